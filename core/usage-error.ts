// Bad usage: a missing path, an unknown name, a flag value that cannot work. The CLI prints
// the message as one line and exits 2; any floor may throw it.
export class UsageError extends Error {}
