// Exact decimal numbers (m * 10^e with a BigInt m) for deep views: the
// explorer's centre, tile centres past z = 38 and the fragment keep every digit,
// the way docs/api.md's "Deep zoom" evaluates them. Only what the view math needs:
// parse, format, add, multiply by powers of two, floor, round. Pure functions.

export interface Dec {
  m: bigint;
  e: number; // value = m * 10^e; normalised: m has no trailing zero digit (0 is {0n, 0})
}

const ZERO: Dec = { m: 0n, e: 0 };
const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,6}))?$/;

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

export function dec(m: bigint, e = 0): Dec {
  if (m === 0n) return ZERO;
  while (m % 10n === 0n) {
    m /= 10n;
    e += 1;
  }
  return { m, e };
}

// Decimal text ("-0.75", "1.5e-1200", "3."), or null when malformed.
export function parseDec(text: string): Dec | null {
  const t = text.trim();
  const g = DECIMAL.exec(t);
  if (!g) return null;
  const int = g[2] ?? '';
  const frac = g[3] ?? '';
  if (int.length + frac.length === 0) return null;
  const m = BigInt((g[1] === '-' ? '-' : '') + (int + frac).replace(/^0+(?=\d)/, ''));
  return dec(m, Number(g[4] ?? 0) - frac.length);
}

// Plain notation for everyday magnitudes ("-0.7436438870371587"), exponent
// notation for tiny or huge ones ("1.5e-60"): both are what POST /add reads.
export function formatDec(d: Dec): string {
  if (d.m === 0n) return '0';
  const neg = d.m < 0n;
  const digits = (neg ? -d.m : d.m).toString();
  const point = digits.length + d.e; // digits before the decimal point
  let body: string;
  if (point > -8 && point <= 21) {
    if (d.e >= 0) body = digits + '0'.repeat(d.e);
    else if (point > 0) body = `${digits.slice(0, point)}.${digits.slice(point)}`;
    else body = `0.${'0'.repeat(-point)}${digits}`;
  } else {
    body = (digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits) + `e${point - 1}`;
  }
  return neg ? '-' + body : body;
}

export function add(a: Dec, b: Dec): Dec {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  const e = Math.min(a.e, b.e);
  return dec(a.m * pow10(a.e - e) + b.m * pow10(b.e - e), e);
}

export function neg(a: Dec): Dec {
  return { m: -a.m, e: a.e };
}

export function sub(a: Dec, b: Dec): Dec {
  return add(a, neg(b));
}

// a * 2^k, exactly (2^-k = 5^k / 10^k).
export function mulPow2(a: Dec, k: number): Dec {
  if (a.m === 0n || k === 0) return a;
  if (k > 0) return dec(a.m << BigInt(k), a.e);
  return dec(a.m * 5n ** BigInt(-k), a.e + k);
}

export function mulInt(a: Dec, n: bigint): Dec {
  return dec(a.m * n, a.e);
}

// The exact value of a double (every finite double is a finite decimal).
export function fromNumber(x: number): Dec {
  if (!Number.isFinite(x)) throw new RangeError(`not finite: ${x}`);
  if (x === 0) return ZERO;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exponent = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (exponent === 0) {
    e2 = -1074; // subnormal
  } else {
    mantissa |= 1n << 52n;
    e2 = exponent - 1075;
  }
  return mulPow2(dec(x < 0 ? -mantissa : mantissa), e2);
}

// Nearest double.
export function toNumber(d: Dec): number {
  return Number(formatDec(d));
}

// Largest integer <= d.
export function floorDec(d: Dec): bigint {
  if (d.e >= 0) return d.m * pow10(d.e);
  const p = pow10(-d.e);
  const q = d.m / p; // towards zero
  return d.m < 0n && q * p !== d.m ? q - 1n : q;
}

// d rounded to a multiple of 10^q (halves away from zero).
export function roundTo(d: Dec, q: number): Dec {
  if (d.e >= q) return d;
  const p = pow10(q - d.e);
  const half = p / 2n;
  const r = d.m < 0n ? -((-d.m + half) / p) : (d.m + half) / p;
  return dec(r, q);
}

// log10 |d| (about 15 digits), -Infinity for 0. Works far below 1e-308.
export function log10Abs(d: Dec): number {
  if (d.m === 0n) return -Infinity;
  const digits = (d.m < 0n ? -d.m : d.m).toString();
  const lead = Number(`0.${digits.slice(0, 17)}`);
  return digits.length + d.e + Math.log10(lead);
}

export function isZero(d: Dec): boolean {
  return d.m === 0n;
}
