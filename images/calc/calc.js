// The calculator page: the keypad edits the expression; = (or Enter) asks the server to compute it.
const form = document.getElementById('calc');
const input = document.getElementById('expr');
const result = document.getElementById('result');

form.addEventListener('click', (event) => {
  const button = event.target.closest('button[type=button]');
  if (!button) return;
  if (button.hasAttribute('data-clear')) input.value = '';
  else input.value += button.dataset.key;
  input.focus();
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const res = await fetch('/api/eval', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ expr: input.value }) });
    const body = await res.json();
    result.className = res.ok ? '' : 'error';
    result.textContent = res.ok ? body.display : `Cannot compute: ${body.error?.message ?? 'unknown error'}`;
  } catch {
    result.className = 'error';
    result.textContent = 'The calculator is not reachable.';
  }
});
