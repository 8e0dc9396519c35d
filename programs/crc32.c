/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) with a 256-entry table built in memory.
   crc32(len) is the CRC of the len bytes b[i] = (i * 7 + 3) & 255 (len <= 4096). */
#define LMAX 4096

static unsigned table[256];
static unsigned char buf[LMAX];

unsigned crc32(int len) {
    if (len < 0 || len > LMAX) return 0;
    for (unsigned n = 0; n < 256; n++) {
        unsigned c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
    for (int i = 0; i < len; i++) buf[i] = (unsigned char)(i * 7 + 3);
    unsigned crc = 0xFFFFFFFFu;
    for (int i = 0; i < len; i++) crc = table[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}
