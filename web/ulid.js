// ULID (https://github.com/ulid/spec): 48-bit ms timestamp + 80 random bits,
// Crockford base32, 26 chars. Each command gets a fresh one so the hub can
// deduplicate retries.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function ulid(now = Date.now(), random = crypto.getRandomValues(new Uint8Array(10))) {
  let t = Math.floor(now);
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  // 80 bits are exactly 16 groups of 5: shift bytes in, take 5 bits out.
  let rand = '';
  let acc = 0;
  let bits = 0;
  for (const byte of random) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      rand += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return time + rand;
}
