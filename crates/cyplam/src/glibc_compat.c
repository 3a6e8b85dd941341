/* Keeps `cyplam` runnable on glibc 2.34 (Rocky/RHEL 9) although it is built on a newer glibc.
 * glibc 2.35 gave hypot and hypotf new symbol versions, and plotters' dashed lines call hypotf,
 * so a plain link would ask for GLIBC_2.35 and the bundle would not start there. build.rs links
 * with -Wl,--wrap=hypot,--wrap=hypotf: the program's calls come here, and these call the
 * versions every x86_64 glibc has (GLIBC_2.2.5), which compute the same function. */
__asm__(".symver cyplam_hypot_2_2_5, hypot@GLIBC_2.2.5");
__asm__(".symver cyplam_hypotf_2_2_5, hypotf@GLIBC_2.2.5");
double cyplam_hypot_2_2_5(double x, double y);
float cyplam_hypotf_2_2_5(float x, float y);

double __wrap_hypot(double x, double y) { return cyplam_hypot_2_2_5(x, y); }
float __wrap_hypotf(float x, float y) { return cyplam_hypotf_2_2_5(x, y); }
