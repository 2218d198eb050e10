// The notes page: lists the notes, adds one, deletes one. Text is always set with textContent, never as HTML.
const list = document.getElementById('notes');
const empty = document.getElementById('empty');
const status = document.getElementById('status');
const form = document.getElementById('add');
const text = document.getElementById('text');

async function call(method, path, body) {
  const res = await fetch(path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(data?.error?.message ?? `HTTP ${res.status}`);
  return data;
}

function render(notes) {
  list.replaceChildren(
    ...notes.map((note) => {
      const item = document.createElement('li');
      const p = document.createElement('p');
      p.textContent = note.text;
      const time = document.createElement('time');
      time.dateTime = note.createdAt;
      time.textContent = new Date(note.createdAt).toLocaleString();
      const del = document.createElement('button');
      del.type = 'button';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete note: ${note.text.slice(0, 40)}`);
      del.addEventListener('click', () => run(() => call('DELETE', `/api/notes/${note.id}`)));
      item.append(p, time, del);
      return item;
    }),
  );
  empty.hidden = notes.length > 0;
}

async function run(change) {
  status.textContent = '';
  try {
    if (change) await change();
    render((await call('GET', '/api/notes')).notes);
    return true;
  } catch (err) {
    status.textContent = `Could not save: ${err.message}`;
    return false;
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (await run(() => call('POST', '/api/notes', { text: text.value }))) {
    text.value = '';
    text.focus();
  }
});

run();
