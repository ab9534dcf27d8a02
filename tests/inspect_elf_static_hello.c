/* A statically linked executable (ET_EXEC, no PT_INTERP, no PT_DYNAMIC) for
 * inspect_elf_test to compare `gort elf` against `readelf -h` on. */
#include <stdio.h>

int main(void) {
  puts("hello");
  return 0;
}
