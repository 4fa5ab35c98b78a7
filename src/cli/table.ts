/**
 * Column tables laid out exactly as the docker CLI lays them out.
 *
 * Docker renders its tables through Go's text/tabwriter with a minimum cell width of 10, padding 3 and spaces
 * (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`): every cell but the last of a line is padded to its column's width,
 * which is the widest cell plus 3, and never less than 10; the last cell is written as it is. That is why Docker's
 * rows end in spaces when the last column (PORTS) is empty. Users diff and grep these tables and tests compare
 * them with the docker CLI's output for the same socket, so the layout is reproduced to the byte.
 */

/** Docker's tabwriter settings. */
const MIN_WIDTH = 10;
const PADDING = 3;

/** Width as text/tabwriter counts it: in Unicode code points (so `…` in a truncated error counts as one). */
function width(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Renders a header and rows as a table; every line ends with a newline. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header, ...rows];
  const columns = Math.max(...lines.map((line) => line.length));
  const widths: number[] = [];
  for (let column = 0; column < columns - 1; column++) {
    let widest = MIN_WIDTH;
    for (const line of lines) {
      if (column < line.length - 1) widest = Math.max(widest, width(line[column]!) + PADDING);
    }
    widths.push(widest);
  }
  return lines
    .map((line) =>
      line
        .map((cell, column) => (column < line.length - 1 ? cell + ' '.repeat(widths[column]! - width(cell)) : cell))
        .join(''),
    )
    .map((line) => `${line}\n`)
    .join('');
}
