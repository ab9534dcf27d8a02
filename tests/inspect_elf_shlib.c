/* A shared library (ET_DYN without DF_1_PIE, entry point 0) for
 * inspect_elf_test to compare `gort elf` against `readelf -h` on. */
int inspect_elf_shlib_answer(void) { return 42; }
