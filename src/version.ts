/** The release version; kept equal to package.json's by a unit test. */
export const VERSION = '0.1.0';

/** The Docker Engine API version whose swarm shapes swarmlet speaks. */
export const API_VERSION = '1.41';
