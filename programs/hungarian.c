/* Min-cost perfect matching (assignment problem) by the Hungarian algorithm, O(n^3) with potentials.
   hungarian(n, seed): the n x n cost matrix (n <= 12) is a[i][j] = (s >> 16) % 100 for a linear
   congruential stream s = s * 1103515245 + 12345 from seed, row by row; returns the minimum cost. */
#define NMAX 12
#define INF 0x3fffffff

static int a[NMAX + 1][NMAX + 1];
static int u[NMAX + 1], v[NMAX + 1], p[NMAX + 1], way[NMAX + 1], minv[NMAX + 1];
static unsigned char used[NMAX + 1];

int hungarian(int n, unsigned seed) {
    if (n < 1 || n > NMAX) return -1;
    unsigned s = seed;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= n; j++) {
            s = s * 1103515245u + 12345u;
            a[i][j] = (int)((s >> 16) % 100u);
        }
    for (int j = 0; j <= n; j++) { u[j] = 0; v[j] = 0; p[j] = 0; way[j] = 0; }
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++) { minv[j] = INF; used[j] = 0; }
        do {
            used[j0] = 1;
            int i0 = p[j0], delta = INF, j1 = 0;
            for (int j = 1; j <= n; j++) {
                if (!used[j]) {
                    int cur = a[i0][j] - u[i0] - v[j];
                    if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                    if (minv[j] < delta) { delta = minv[j]; j1 = j; }
                }
            }
            for (int j = 0; j <= n; j++) {
                if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { int j1 = way[j0]; p[j0] = p[j1]; j0 = j1; } while (j0);
    }
    int cost = 0;
    for (int j = 1; j <= n; j++) cost += a[p[j]][j];
    return cost;
}
