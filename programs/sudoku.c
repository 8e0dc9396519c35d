/* Backtracking Sudoku solver: fills the grid cell by cell, trying digits 1..9.
   solve(k) solves puzzle k (0..NPUZZLES-1) and returns a checksum of the solved grid
   (h = h * 31 + digit over the 81 cells, mod 2^32), or -1 if it has no solution. */
#define NPUZZLES 3

static const char PUZZLES[NPUZZLES][82] = {
    /* Project Euler 96, grid 01 */
    "003020600900305001001806400008102900700000008006708200002609500800203009005010300",
    /* Project Euler 96, grid 02 */
    "200080300060070084030500209000105408000000000402706000301007040720040060004010003",
    /* Arto Inkala's "hardest Sudoku" (2012) with the last 6 of its blanks filled from its solution:
       about 1.5 million instructions for this solver (the full puzzle takes 34 million) */
    "800000000003600000070090200050007000000045700000100030001000068008500010096318452",
};

static unsigned char grid[81];

static int allowed(int pos, int d) {
    int r = pos / 9, c = pos % 9;
    for (int i = 0; i < 9; i++) {
        if (grid[r * 9 + i] == d || grid[i * 9 + c] == d) return 0;
    }
    int br = r - r % 3, bc = c - c % 3;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (grid[(br + i) * 9 + bc + j] == d) return 0;
    return 1;
}

static int fill(int pos) {
    while (pos < 81 && grid[pos]) pos++;
    if (pos == 81) return 1;
    for (int d = 1; d <= 9; d++) {
        if (allowed(pos, d)) {
            grid[pos] = (unsigned char)d;
            if (fill(pos + 1)) return 1;
        }
    }
    grid[pos] = 0;
    return 0;
}

int solve(int k) {
    if (k < 0 || k >= NPUZZLES) return -1;
    for (int i = 0; i < 81; i++) grid[i] = (unsigned char)(PUZZLES[k][i] - '0');
    if (!fill(0)) return -1;
    unsigned h = 0;
    for (int i = 0; i < 81; i++) h = h * 31u + grid[i];
    return (int)h;
}
