/* proc_bpf: load an eBPF program and create a map (the verifier and the
 * JIT are a large kernel attack surface).
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, the kernel's
 * unprivileged_bpf_disabled (EPERM) on hosts that set it.
 */
#include "escape.h"

#include <linux/bpf.h>

int main(void)
{
	struct bpf_insn prog[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insn_cnt = ESC_N(prog);
	a.insns = (uint64_t)(uintptr_t)prog;
	a.license = (uint64_t)(uintptr_t) "GPL";
	MUST_FAIL("bpf(BPF_PROG_LOAD)", syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a)),
		  SECCOMP_OR("unprivileged bpf disabled"));
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = 1;
	MUST_FAIL("bpf(BPF_MAP_CREATE)", syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a)),
		  SECCOMP_OR("unprivileged bpf disabled"));
	verdict();
}
