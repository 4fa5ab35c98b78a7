/**
 * Drawing a service's progress while the CLI waits for it, in the manner of `docker service update`: an "overall
 * progress" line and, for up to 20 slots (or nodes), one line per slot whose bar shows how far its task has come
 * through the lifecycle, new to running. A task's error takes the place of its bar.
 *
 * Two outputs, one model. On a terminal the lines form a block redrawn in place: the cursor goes back up over the
 * block last drawn, which is erased and written again, and the lines meant to stay (a task's error, why a rollback
 * started) are written above it, so they scroll away with the terminal's history as any output does. In a log or CI
 * (not a terminal) a bar that creeps forward is noise: each line is printed once, without its bar, and again only
 * when its text changes — the pipeline shows `2/3: starting`, then `2/3: running`, and nothing in between.
 */

import type { TaskState } from '../../api/types.ts';

/** Where a slot (or node) stands: its label, and the state and error of the task that fills it, if any. */
export interface SlotView {
  /** `1/3` for a replicated slot, the node's short ID for a global service. */
  label: string;
  state?: TaskState;
  error?: string;
}

export interface ProgressView {
  overall: string;
  /** Left empty when there are too many to draw (MAX_BARS). */
  slots: readonly SlotView[];
}

/** Docker's limit: more slots than this show only the overall line. */
export const MAX_BARS = 20;

/** The states a task goes through on its way to running; the bar is the state's position among them. */
const LIFECYCLE: readonly TaskState[] = ['new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running'];
/** The longest state drawn with a bar (`preparing`), so the bars line up. */
const STATE_WIDTH = Math.max(...LIFECYCLE.map((state) => state.length));
const BAR_WIDTH = 50;
/** An error is cut to this many characters, so that a slot's line fits a narrow terminal and stays one line. */
const MAX_ERROR = 75;

/** `[=====>     ]`: the part of the lifecycle a state has reached; '' for a state off the way to running. */
export function progressBar(state: TaskState): string {
  const position = LIFECYCLE.indexOf(state) + 1;
  if (position === 0) return '';
  const filled = Math.round((position / LIFECYCLE.length) * BAR_WIDTH);
  return `[${'='.repeat(filled - 1)}>${' '.repeat(BAR_WIDTH - filled)}]`;
}

/** An error on one line, cut with `…` when long. */
export function oneLineError(error: string): string {
  const chars = [...error.replace(/\s*\n\s*/g, ' ')];
  return chars.length > MAX_ERROR ? `${chars.slice(0, MAX_ERROR - 1).join('')}…` : chars.join('');
}

/** A slot's line on a terminal: its error, or its state and bar (an empty slot shows its label alone). */
export function slotBarLine(slot: SlotView): string {
  if (slot.error) return `${slot.label}: ${oneLineError(slot.error)}`;
  if (!slot.state) return `${slot.label}:`;
  const bar = progressBar(slot.state);
  return bar ? `${slot.label}: ${slot.state.padEnd(STATE_WIDTH)} ${bar}` : `${slot.label}: ${slot.state}`;
}

/** A slot's line in a log: its state only ('' while it has no task); the error is printed whole elsewhere. */
export function slotLogLine(slot: SlotView): string {
  return slot.state ? `${slot.label}: ${slot.state}` : '';
}

/** Writes progress to a terminal (redrawn in place) or a log (changes only); see the module comment. */
export class ProgressWriter {
  readonly #out: (text: string) => void;
  readonly #tty: boolean;
  readonly #columns: number | undefined;
  /** Terminal: the block on screen, one string a line. */
  #block: string[] = [];
  /** Log: the text last printed for each line of the view, by key. */
  readonly #printed = new Map<string, string>();

  /** `columns` is the terminal's width: block lines are cut to it, since a wrapped line would throw the redraw off. */
  constructor(out: (text: string) => void, options: { tty: boolean; columns?: number }) {
    this.#out = out;
    this.#tty = options.tty;
    this.#columns = options.columns && options.columns > 1 ? options.columns : undefined;
  }

  /** A line that stays: printed as it is, above the block on a terminal. */
  note(line: string): void {
    if (!this.#tty) {
      this.#out(`${line}\n`);
      return;
    }
    this.#out(`${this.#erase()}${line}\n${this.#draw(this.#block)}`);
  }

  /** Shows the latest progress; nothing is written when nothing changed. */
  show(view: ProgressView): void {
    if (this.#tty) {
      const block = [view.overall, ...view.slots.map(slotBarLine)].map((line) => this.#fit(line));
      if (block.length === this.#block.length && block.every((line, i) => line === this.#block[i])) return;
      this.#out(`${this.#erase()}${this.#draw(block)}`);
      this.#block = block;
      return;
    }
    const lines: Array<[string, string]> = [['', view.overall], ...view.slots.map((slot): [string, string] => [slot.label, slotLogLine(slot)])];
    for (const [key, text] of lines) {
      if (text === '' || this.#printed.get(key) === text) continue;
      this.#printed.set(key, text);
      this.#out(`${text}\n`);
    }
  }

  /** Leaves the block as it stands: what is written next goes below it. */
  finish(): void {
    this.#block = [];
  }

  /** Cursor up over the block, to its first column, and erase from there down. */
  #erase(): string {
    return this.#block.length > 0 ? `\x1b[${this.#block.length}A\r\x1b[J` : '';
  }

  #draw(block: readonly string[]): string {
    return block.map((line) => `${line}\n`).join('');
  }

  #fit(line: string): string {
    return this.#columns !== undefined && line.length >= this.#columns ? line.slice(0, this.#columns - 1) : line;
  }
}
