/* A switch-heavy bytecode interpreter running a loop of arithmetic. */
#include "kernel.h"

enum { PUSH, LOAD, STORE, ADD, SUB, MUL, XOR, SHR, DUP, JNZ, HALT };

static uint32_t interpret(const int32_t *code, uint32_t *vars) {
    uint32_t stack[64];
    int sp = 0;
    for (int pc = 0;;) {
        switch (code[pc++]) {
        case PUSH: stack[sp++] = (uint32_t)code[pc++]; break;
        case LOAD: stack[sp++] = vars[code[pc++]]; break;
        case STORE: vars[code[pc++]] = stack[--sp]; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case SUB: sp--; stack[sp - 1] -= stack[sp]; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case XOR: sp--; stack[sp - 1] ^= stack[sp]; break;
        case SHR: sp--; stack[sp - 1] >>= stack[sp] & 31; break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case JNZ: { int32_t target = code[pc++]; if (stack[--sp]) pc = target; break; }
        case HALT: return vars[1];
        }
    }
}

KERNEL {
    /* acc = acc * 31 + (acc >> 3) ^ i, for i = n down to 1 */
    static const int32_t program[] = {
        /* 0 */ LOAD, 0, LOAD, 1, PUSH, 31, MUL, LOAD, 1, PUSH, 3, SHR, ADD, XOR, STORE, 1,
        /* 16 */ LOAD, 0, PUSH, 1, SUB, DUP, STORE, 0, JNZ, 0, HALT};
    uint32_t vars[2] = {200000 * kernel_seed, 7};
    bench_start();
    uint32_t result = interpret(program, vars);
    bench_end();
    return result;
}
