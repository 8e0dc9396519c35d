/* Sieve of Eratosthenes: sieve(n) counts the primes below n (n <= 16384). */
#define NMAX 16384

static unsigned char composite[NMAX];

int sieve(int n) {
    if (n < 0 || n > NMAX) return -1;
    for (int i = 0; i < n; i++) composite[i] = 0;
    int count = 0;
    for (int i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        for (int j = i * i; j < n; j += i) composite[j] = 1;
    }
    return count;
}
