# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""A model's bound kernel calls run back to back, without Python between them (``runtime._native``).

Between two layers the Python executor spent more than the call itself: ~310 interpreter calls a
ResNet-18 run, whose code and objects the previous layer's data had pushed out of the caches (libpython
was 7-11% of a run's samples). Each step here is a call bound to its arrays once (``kernels.Bound``): the
address of a C function ``int run(void *context, int threads)`` and of its context, kept alive by the call
object this program holds. A step returns non-zero when its result is invalid (a NaN whose sign was asked
for); the program stops there and reports which step.
"""

from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc

ctypedef int (*step_fn)(void *ctx, int nthreads) noexcept nogil


cdef class Program:
    """Steps ``[(call, (cautious threads, eager threads))]``, each ``call`` with an ``entry()``."""
    cdef step_fn *fns
    cdef void **ctxs
    cdef int *threads  # per step: cautious, eager
    cdef readonly int n
    cdef list calls

    def __cinit__(self, list steps):
        cdef int i
        self.n = len(steps)
        self.fns = <step_fn *>malloc(max(1, self.n) * sizeof(step_fn))
        self.ctxs = <void **>malloc(max(1, self.n) * sizeof(void *))
        self.threads = <int *>malloc(max(1, 2 * self.n) * sizeof(int))
        if self.fns == NULL or self.ctxs == NULL or self.threads == NULL:
            raise MemoryError()
        self.calls = []
        for i, (call, (cautious, eager)) in enumerate(steps):
            fn, ctx = call.entry()
            self.fns[i] = <step_fn><uintptr_t>fn
            self.ctxs[i] = <void *><uintptr_t>ctx
            self.threads[2 * i] = max(1, cautious)
            self.threads[2 * i + 1] = max(1, eager)
            self.calls.append(call)

    def __dealloc__(self):
        free(self.fns)
        free(self.ctxs)
        free(self.threads)

    def run(self, int start, int stop, bint eager) -> int:
        """Steps ``[start, stop)`` in order, with each one's thread count for the policy: the index of the
        first whose result is invalid (the later ones did not run), or -1."""
        if not 0 <= start <= stop <= self.n:
            raise IndexError(f"steps [{start}, {stop}) of {self.n}")
        cdef int i, bad = -1, k = 1 if eager else 0
        with nogil:
            for i in range(start, stop):
                if self.fns[i](self.ctxs[i], self.threads[2 * i + k]):
                    bad = i
                    break
        return bad
