/* A 64-bit hash mix: n rounds of splitmix64 folded into an accumulator (xor, rotate left by 5).
   mix(n, seed) returns the accumulator. */
typedef unsigned long long u64;

u64 mix(int n, u64 seed) {
    u64 x = seed, acc = 0;
    for (int i = 0; i < n; i++) {
        x += 0x9E3779B97F4A7C15ull;
        u64 z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        acc ^= z;
        acc = (acc << 5) | (acc >> 59);
    }
    return acc;
}
