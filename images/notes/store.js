// The notes file: $DATA_DIR/notes.json, rewritten atomically (temp file, fsync, rename, fsync the folder) so that a
// crash, a power cut or a hot update never leaves half a file. It is read on every request, so two versions of the
// app sharing /data during a hand-over never serve stale notes; writes are queued one at a time.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const LIMITS = { maxNoteChars: 2000, maxNotes: 500, maxFileBytes: 2 * 1024 * 1024 };
const FILE = 'notes.json';
const TEMP_PREFIX = `.${FILE}.tmp-`;

export class NotesError extends Error {
  /** @param {'BAD_REQUEST'|'TOO_LONG'|'TOO_MANY'|'NOT_FOUND'|'DATA_CORRUPT'} code */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class NoteStore {
  constructor(dir) {
    this.dir = dir;
    this.path = join(dir, FILE);
    /** The tail of the write queue: every change waits for the previous one. */
    this.queue = Promise.resolve();
  }

  /**
   * Creates the folder and removes temp files a crash may have left (they were never renamed into place). A damaged
   * notes file does not stop the app: every request reports it (DATA_CORRUPT) and the file is never overwritten.
   */
  async open() {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (name.startsWith(TEMP_PREFIX)) await rm(join(this.dir, name), { force: true });
    }
  }

  async list() {
    let text;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return [];
      throw err;
    }
    // A file we cannot read is kept as it is (never overwritten) and reported.
    if (text.length > LIMITS.maxFileBytes) throw new NotesError('DATA_CORRUPT', `${this.path} is larger than ${LIMITS.maxFileBytes} bytes`);
    let doc;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new NotesError('DATA_CORRUPT', `${this.path} is not valid JSON; it was left untouched`);
    }
    if (doc?.version !== 1 || !Array.isArray(doc.notes)) throw new NotesError('DATA_CORRUPT', `${this.path} is not a notes file`);
    return doc.notes.filter((n) => typeof n?.id === 'string' && typeof n.text === 'string' && typeof n.createdAt === 'string');
  }

  add(text) {
    if (typeof text !== 'string' || text.trim() === '') return Promise.reject(new NotesError('BAD_REQUEST', 'a note needs some text'));
    if (text.length > LIMITS.maxNoteChars) return Promise.reject(new NotesError('BAD_REQUEST', `a note has at most ${LIMITS.maxNoteChars} characters`));
    return this.change((notes) => {
      if (notes.length >= LIMITS.maxNotes) throw new NotesError('TOO_MANY', `at most ${LIMITS.maxNotes} notes; delete some first`);
      const note = { id: randomUUID(), text: text.trim(), createdAt: new Date().toISOString() };
      return { notes: [note, ...notes], result: note };
    });
  }

  remove(id) {
    return this.change((notes) => {
      const left = notes.filter((n) => n.id !== id);
      if (left.length === notes.length) throw new NotesError('NOT_FOUND', 'no such note');
      return { notes: left, result: null };
    });
  }

  /** Resolves once every queued write is on disk. */
  flush() {
    return this.queue;
  }

  change(edit) {
    const run = this.queue.then(async () => {
      const { notes, result } = edit(await this.list());
      await this.write(notes);
      return result;
    });
    this.queue = run.catch(() => {});
    return run;
  }

  async write(notes) {
    const tmp = join(this.dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify({ version: 1, notes }, null, 1)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
