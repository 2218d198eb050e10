// The seccomp filter every app runs under: an allowlist modelled on runc's/Docker's default profile, tighter where a
// confined app has no use for a call (no mount, namespace, keyring, BPF, ptrace, perf, kernel-module or clock calls).
// Anything not listed fails with EPERM. clone3 fails with ENOSYS so that glibc falls back to clone, whose flags are
// then checked: no new namespaces. io_uring fails with ENOSYS; personality takes only the values Docker allows.
// Syscall names that this libseccomp does not know are skipped by runc.

const ALLOWED = [
  'accept', 'accept4', 'access', 'alarm', 'arch_prctl', 'bind', 'brk', 'capget', 'chdir', 'chmod', 'chown',
  'clock_getres', 'clock_gettime', 'clock_nanosleep', 'close', 'close_range', 'connect', 'copy_file_range', 'creat',
  'dup', 'dup2', 'dup3', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
  'eventfd', 'eventfd2', 'execve', 'execveat', 'exit', 'exit_group', 'faccessat', 'faccessat2', 'fadvise64',
  'fallocate', 'fchdir', 'fchmod', 'fchmodat', 'fchown', 'fchownat', 'fcntl', 'fdatasync', 'fgetxattr', 'flistxattr',
  'flock', 'fork', 'fstat', 'fstatfs', 'fsync', 'ftruncate', 'futex', 'futex_waitv', 'getcpu', 'getcwd', 'getdents',
  'getdents64', 'getegid', 'geteuid', 'getgid', 'getgroups', 'getitimer', 'getpeername', 'getpgid', 'getpgrp',
  'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresuid', 'getrlimit', 'get_robust_list',
  'getrusage', 'getsid', 'getsockname', 'getsockopt', 'get_thread_area', 'gettid', 'gettimeofday', 'getuid',
  'getxattr', 'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'ioctl',
  'io_destroy', 'io_getevents', 'io_pgetevents', 'ioprio_get', 'ioprio_set', 'io_setup', 'io_submit', 'kill', 'lchown', 'lgetxattr', 'link', 'linkat', 'listen', 'listxattr',
  'llistxattr', 'lseek', 'lstat', 'madvise', 'membarrier', 'memfd_create', 'mincore', 'mkdir', 'mkdirat', 'mknod',
  'mknodat', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mprotect', 'mremap', 'msync', 'munlock', 'munlockall', 'munmap',
  'nanosleep', 'newfstatat', 'open', 'openat', 'openat2', 'pause', 'pipe', 'pipe2', 'poll', 'ppoll', 'prctl', 'pread64',
  'preadv', 'preadv2', 'prlimit64', 'pselect6', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink',
  'readlinkat', 'readv', 'recvfrom', 'recvmmsg', 'recvmsg', 'remap_file_pages', 'rename', 'renameat', 'renameat2',
  'restart_syscall', 'rmdir', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo',
  'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_tgsigqueueinfo', 'sched_getaffinity', 'sched_getattr',
  'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_getscheduler', 'sched_rr_get_interval',
  'sched_setaffinity', 'sched_setattr', 'sched_setparam', 'sched_setscheduler', 'sched_yield', 'select', 'sendfile',
  'sendmmsg', 'sendmsg', 'sendto', 'setfsgid', 'setfsuid', 'setgid', 'setgroups', 'setitimer', 'setpgid',
  'setpriority', 'setregid', 'setresgid', 'setresuid', 'setreuid', 'setrlimit', 'set_robust_list', 'setsid',
  'setsockopt', 'set_thread_area', 'set_tid_address', 'setuid', 'shutdown', 'sigaltstack', 'signalfd', 'signalfd4',
  'socket', 'socketpair', 'splice', 'stat', 'statfs', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range',
  'syncfs', 'sysinfo', 'tee', 'tgkill', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime',
  'timer_settime', 'timerfd_create', 'timerfd_gettime', 'timerfd_settime', 'times', 'tkill', 'truncate', 'umask',
  'uname', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimes', 'vfork', 'wait4', 'waitid', 'write', 'writev',
  'pidfd_open', 'pidfd_send_signal', 'pidfd_getfd', 'process_vm_readv', 'process_vm_writev', 'landlock_add_rule',
  'landlock_create_ruleset', 'landlock_restrict_self',
];

/**
 * personality(2) values an app may set, as in Docker's profile: PER_LINUX, PER_LINUX32, UNAME26, both, and the
 * query 0xffffffff. Not ADDR_NO_RANDOMIZE (0x0040000) and the other flags: an app cannot turn off ASLR for what it
 * executes.
 */
export const PERSONALITY_ALLOWED = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** clone flags that create namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET). */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

export function seccompProfile(arch: string): object {
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1, // EPERM
    architectures: arch === 'aarch64' ? ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] : ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: ALLOWED, action: 'SCMP_ACT_ALLOW' },
      // Threads and fork, but no new namespaces (clone's flags are its first argument on x86_64 and arm64).
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      // clone3 passes its flags in memory, where seccomp cannot look: ENOSYS makes glibc use clone instead.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      // io_uring has been the source of many kernel exploits and bypasses seccomp for the operations it queues
      // (Docker's default profile dropped it too): ENOSYS, so that libuv, Go and tokio use their epoll paths.
      { names: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ...PERSONALITY_ALLOWED.map((value) => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
    ],
  };
}
