/* Proto-Faaslet benchmark: functions that write 1, 4, 16 and 64 pages (4 KiB) of the module's
 * own initialised data, one byte per page, as a call writing its working set would. Built as a
 * WASI reactor; the data is in the snapshot's image. */

#define PAGE 4096
#define PAGES 64

/* Non-zero, so it lives in the data segment (the image), page-aligned so page N is page N. */
static volatile unsigned char data[PAGES * PAGE] __attribute__((aligned(PAGE))) = {1};

static int write_pages(int pages) {
    for (int page = 0; page < pages; page++) {
        data[page * PAGE + 8] += 1;
    }
    return data[8];
}

__attribute__((export_name("write1"))) int write1(void) { return write_pages(1); }
__attribute__((export_name("write4"))) int write4(void) { return write_pages(4); }
__attribute__((export_name("write16"))) int write16(void) { return write_pages(16); }
__attribute__((export_name("write64"))) int write64(void) { return write_pages(64); }
