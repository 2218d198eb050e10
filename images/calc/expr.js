// A small, safe arithmetic parser: numbers, + - * / % ^, unary signs and parentheses. It never evaluates code:
// the input is tokenized and parsed by recursive descent, and anything else is a coded error.
//   expr  := term (('+' | '-') term)*
//   term  := unary (('*' | '/' | '%') unary)*
//   unary := ('+' | '-') unary | power
//   power := atom ('^' unary)?          (right-associative: 2^3^2 = 2^9; -2^2 = -4)
//   atom  := number | '(' expr ')'

export const LIMITS = { maxChars: 256, maxDepth: 32 };

export class ExprError extends Error {
  /** @param {'EMPTY'|'TOO_LONG'|'TOO_DEEP'|'SYNTAX'|'DIVISION_BY_ZERO'|'NOT_FINITE'} code */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// Friendly spellings from the keypad and from other keyboards.
const ALIASES = { '×': '*', '÷': '/', '−': '-', '–': '-' };
const NUMBER = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/;

function tokenize(text) {
  const tokens = [];
  let i = 0;
  while (i < text.length) {
    const c = ALIASES[text[i]] ?? text[i];
    if (c === ' ' || c === '\t') {
      i++;
    } else if ('+-*/%^()'.includes(c)) {
      tokens.push({ type: c, at: i });
      i++;
    } else {
      const m = NUMBER.exec(text.slice(i));
      if (!m) throw new ExprError('SYNTAX', `unexpected ${JSON.stringify(text[i])} at position ${i + 1}`);
      tokens.push({ type: 'num', value: Number(m[0]), at: i });
      i += m[0].length;
    }
  }
  return tokens;
}

/** Evaluates an arithmetic expression; throws ExprError with a code for anything else. */
export function evaluate(text) {
  if (typeof text !== 'string') throw new ExprError('SYNTAX', 'expected the expression as text');
  if (text.length > LIMITS.maxChars) throw new ExprError('TOO_LONG', `at most ${LIMITS.maxChars} characters`);
  const tokens = tokenize(text);
  if (tokens.length === 0) throw new ExprError('EMPTY', 'type an expression, for example 2+3*4');
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos]?.type;
  const where = () => (pos < tokens.length ? `at position ${tokens[pos].at + 1}` : 'at the end');
  const descend = () => {
    if (++depth > LIMITS.maxDepth) throw new ExprError('TOO_DEEP', `at most ${LIMITS.maxDepth} levels of nesting`);
  };

  function expr() {
    let value = term();
    while (peek() === '+' || peek() === '-') {
      const op = tokens[pos++].type;
      const right = term();
      value = op === '+' ? value + right : value - right;
    }
    return value;
  }
  function term() {
    let value = unary();
    while (peek() === '*' || peek() === '/' || peek() === '%') {
      const op = tokens[pos++].type;
      const right = unary();
      if ((op === '/' || op === '%') && right === 0) throw new ExprError('DIVISION_BY_ZERO', 'division by zero');
      value = op === '*' ? value * right : op === '/' ? value / right : value % right;
    }
    return value;
  }
  function unary() {
    if (peek() === '+' || peek() === '-') {
      const op = tokens[pos++].type;
      descend();
      const value = unary();
      depth--;
      return op === '-' ? -value : value;
    }
    return power();
  }
  function power() {
    const base = atom();
    if (peek() !== '^') return base;
    pos++;
    descend();
    const exponent = unary();
    depth--;
    return base ** exponent;
  }
  function atom() {
    const token = tokens[pos];
    if (token?.type === 'num') {
      pos++;
      return token.value;
    }
    if (token?.type === '(') {
      pos++;
      descend();
      const value = expr();
      depth--;
      if (peek() !== ')') throw new ExprError('SYNTAX', `missing ) ${where()}`);
      pos++;
      return value;
    }
    throw new ExprError('SYNTAX', `expected a number ${where()}`);
  }

  const value = expr();
  if (pos < tokens.length) throw new ExprError('SYNTAX', `unexpected ${JSON.stringify(tokens[pos].type === 'num' ? String(tokens[pos].value) : tokens[pos].type)} ${where()}`);
  if (!Number.isFinite(value)) throw new ExprError('NOT_FINITE', 'the result is too large or not a number');
  return value;
}

/** 0.1+0.2 shows as 0.3: twelve significant digits are plenty for a desk calculator. */
export function display(value) {
  return String(Number(value.toPrecision(12)));
}
