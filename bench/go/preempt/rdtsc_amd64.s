#include "textflag.h"

// func rdtsc() int64
//
// The time-stamp counter, for timestamps cheap enough to take on every
// iteration of a spinning loop (time.Now would put a call with a preemption
// check in the loop). NOSPLIT: no prologue, so no cooperative preemption
// point either. Having a .s file in the package also lets stw_linkname.go
// declare runtime functions without a body.
TEXT ·rdtsc(SB), NOSPLIT|NOFRAME, $0-8
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET
