"""ElementwiseKernel and ReductionKernel: their operation text (a small C subset) interpreted with
CuPy's rules for type placeholders, broadcasting and in-place outputs."""
import ast
import functools
import math
import re

import numpy as np

from .arrays import empty, ndarray, refuse_host, wrap
from .raw_kernels import C_TYPES, ctype_of, cxx_check

# ---------------------------------------------------------------- element-wise kernels

def erf_like(name):
    try:
        import scipy.special
        return getattr(scipy.special, name)
    except ImportError:
        fn = np.vectorize(getattr(math, name), otypes=[np.float64])
        return lambda x: fn(x).astype(np.result_type(x, np.float32))


def _typed(fn, dtype=None):
    """A C math function: the result in its argument's float type (or ``dtype``, for the
    ``f``-suffixed single-precision forms)."""
    def call(*args):
        if dtype is not None:
            args = [np.asarray(v, dtype=dtype) for v in args]
        result = fn(*args)
        kind = np.result_type(*args)
        return np.asarray(result, dtype=kind if kind.kind == "f" else np.float64)[()]
    return call


def _math_functions():
    base = {
        "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "sin": np.sin,
        "cos": np.cos, "fabs": np.abs, "abs": np.abs, "log1p": np.log1p, "expm1": np.expm1,
        "pow": np.power, "fmax": np.fmax, "fmin": np.fmin, "max": np.maximum,
        "min": np.minimum, "erf": erf_like("erf"), "erfc": erf_like("erfc"),
        "rsqrt": lambda v: 1 / np.sqrt(v),
    }
    out = {name: _typed(fn) for name, fn in base.items()}
    out.update({name + "f": _typed(fn, np.float32) for name, fn in base.items()
                if name not in ("abs", "max", "min")})
    return out


_MATH = _math_functions()
_LITERAL = r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
_UNSUPPORTED = ("&&", "||", "?", "++", "--", "->", "[", "{", "}", "<<", ">>", "&", "|")


class _Program:
    """The statements of an ElementwiseKernel operation (or a reduction's map / post-map
    expression), in Python: ``T u = expr;`` (a typed local), ``name = expr;`` and
    ``name op= expr;``. Anything else raises NotImplementedError, never a wrong answer."""

    def __init__(self, text, type_names, where):
        self.where = where
        self.type_names = set(type_names)
        self.statements = []
        text = re.sub(r"//[^\n]*", "", text)
        for stmt in text.split(";"):
            stmt = " ".join(stmt.split())
            if stmt:
                self.statements.append(self._statement(stmt))

    def _fail(self, what):
        raise NotImplementedError(f"cupy stand-in cannot interpret {what} in {self.where}")

    def _statement(self, stmt):
        types_ = "|".join(sorted(map(re.escape, self.type_names | set(C_TYPES)), key=len,
                                 reverse=True))
        m = re.fullmatch(rf"(?:const )?({types_}) (\w+) = (.+)", stmt)
        if m:
            return ("declare", m.group(2), m.group(1), self.expression(m.group(3)))
        m = re.fullmatch(r"(\w+) ?([-+*/])= ?(.+)", stmt)
        if m:
            return ("assign", m.group(1), None,
                    self.expression(f"{m.group(1)} {m.group(2)} ({m.group(3)})"))
        m = re.fullmatch(r"(\w+) ?= ?(?!=)(.+)", stmt)
        if m:
            return ("assign", m.group(1), None, self.expression(m.group(2)))
        self._fail(f"the statement {stmt!r}")

    def expression(self, text):
        original = text
        for token in _UNSUPPORTED:
            if token in text:
                self._fail(f"{token!r} in {original!r}")
        if re.search(r"!(?!=)", text):
            self._fail(f"'!' in {original!r}")
        text = re.sub(rf"({_LITERAL})[fF]\b", r"\1", text)
        text = self._casts(text, original)
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            self._fail(f"the expression {original!r}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
                self._fail(f"a call in {original!r}")
            if isinstance(node, (ast.Attribute, ast.Subscript, ast.Lambda, ast.IfExp,
                                 ast.BoolOp, ast.Compare, ast.Starred, ast.keyword)):
                self._fail(f"{type(node).__name__} in {original!r}")
        return compile(tree, self.where, "eval")

    def _casts(self, text, original):
        """C casts ``(T)operand`` as ``_cast('T', operand)``. The operand of a cast is what
        a C unary expression is: an optional minus, then a literal, a name, a call
        ``name(...)`` or a parenthesised expression."""
        types_ = "|".join(sorted(map(re.escape, self.type_names | set(C_TYPES)), key=len,
                                 reverse=True))
        cast = re.compile(rf"\(\s*({types_})\s*\)\s*")
        while True:
            m = cast.search(text)
            if m is None:
                return text
            i = m.end()
            j = i + 1 if text[i:i + 1] == "-" else i
            while text[j:j + 1] == " ":
                j += 1
            lit = re.match(_LITERAL + "|[A-Za-z_]\\w*", text[j:])
            if lit:
                j += lit.end()
            if text[j:j + 1] == "(" and (lit is None or not lit.group()[0].isdigit()):
                depth = 0
                for k in range(j, len(text)):
                    depth += (text[k] == "(") - (text[k] == ")")
                    if depth == 0:
                        j = k + 1
                        break
                else:
                    self._fail(f"unbalanced parentheses in {original!r}")
            elif lit is None:
                self._fail(f"the cast in {original!r}")
            text = f"{text[:m.start()]}_cast({m.group(1)!r}, {text[i:j]}){text[j:]}"

    def run(self, env, types_, inputs, outputs):
        """Execute with ``env`` (name -> array or scalar); types_ maps type names to dtypes.
        Returns the final values of ``outputs``."""
        def cast(type_name, value):
            dtype = types_.get(type_name) or np.dtype(C_TYPES[type_name])
            return np.asarray(value, dtype=dtype)[()]

        names = dict(env)
        names.update(_MATH)
        names["_cast"] = cast
        for kind, target, type_name, code in self.statements:
            if target in inputs:
                self._fail(f"an assignment to the input {target!r} (inputs are const)")
            if kind == "assign" and target not in names:
                self._fail(f"an assignment to the undeclared {target!r}")
            try:
                value = eval(code, {"__builtins__": {}}, names)  # noqa: S307 (our own text)
            except NameError as exc:
                self._fail(f"an unknown name ({exc})")
            if kind == "declare":
                value = cast(type_name, value)
            elif target in outputs:
                value = np.asarray(value).astype(types_[outputs[target]], copy=False)
            names[target] = value
        return [names[o] for o in outputs]


def _params(text):
    params = []
    for item in text.split(","):
        words = item.split()
        if not words:
            continue
        if len(words) != 2:
            raise NotImplementedError(f"cupy stand-in: parameter {item.strip()!r} (raw and "
                                      f"other qualifiers are not emulated)")
        params.append((words[0], words[1]))
    return params


@functools.lru_cache(maxsize=None)
def _is_placeholder(type_name):
    return not any(type_name == np.dtype(t).name for t in
                   (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                    np.uint8, np.uint16, np.uint32, np.uint64, np.bool_, np.complex64,
                    np.complex128))


class ElementwiseKernel:
    """cupy.ElementwiseKernel, run by interpreting its operation text."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True,
                 preamble="", no_return=False, return_tuple=False, **kwargs):
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        self.name = self.__name__ = name
        self.operation = operation
        self.no_return, self.return_tuple = no_return, return_tuple
        self.calls = 0
        type_names = {t for t, _ in self.in_params + self.out_params}
        self.program = _Program(operation, type_names, f"ElementwiseKernel {name}")

    def _compile(self, types_, args, body=None, extra_params=()):
        """The operation as CuPy puts it in its loop (inputs as const references, outputs as
        references, ``operation;``), checked by cxx_check once per set of types."""
        key = tuple(sorted((t, d.name) for t, d in types_.items() if d is not None))
        done = self.__dict__.setdefault("_compiled", set())
        if key in done:
            return
        typedefs = "".join(f"typedef {ctype_of(d)} {t};\n" for t, d in types_.items()
                           if _is_placeholder(t) and d is not None)
        params = [f"const {t} &{n}" for t, n in self.in_params]
        params += [f"{t} &{n}" for t, n in self.out_params] + list(extra_params)
        typed = {"float32": "float32", "float64": "float64"}
        source = typedefs + "".join(f"typedef {ctype_of(t)} {t};\n" for t in typed
                                    if any(p == t for p, _ in self.in_params + self.out_params))
        source += (f"__device__ void {self.name}({', '.join(params)}) {{\n"
                   f"{self.operation if body is None else body};\n}}\n")
        cxx_check(source, f"{type(self).__name__} {self.name}")
        done.add(key)

    def _types(self, args, params):
        """Type placeholders bound by the arrays, as CuPy binds them (scalars never bind;
        they are cast), with CuPy's mismatch error."""
        bound = {}
        for (t, n), a in zip(params, args):
            if not isinstance(a, ndarray):
                continue
            if _is_placeholder(t):
                if t in bound and bound[t] != a.dtype:
                    raise TypeError(f"Type is mismatched. {n} {a.dtype} {bound[t]} {t} "
                                    f"({self.name})")
                bound.setdefault(t, a.dtype)
            elif a.dtype != np.dtype(t):
                raise TypeError(f"Type is mismatched. {n} {a.dtype} {t} ({self.name})")
        return bound

    def _prepare(self, args, params):
        refuse_host(self.name, args)
        for (t, n), a in zip(params, args):
            if not isinstance(a, (ndarray, int, float, bool, np.generic)):
                raise TypeError(f"Unsupported type {type(a)} for {n} ({self.name})")
        return self._types(args, params)

    def __call__(self, *args, size=None, block_size=128, stream=None):
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either "
                            f"{self.nin} or {self.nargs} (with outputs), but given {len(args)}.")
        if size is not None:
            raise NotImplementedError("cupy stand-in: size= (raw parameters) is not emulated")
        params = self.in_params + self.out_params
        outs = list(args[self.nin:])
        for (t, n), o in zip(self.out_params, outs):
            if not isinstance(o, ndarray):
                raise TypeError("Output arguments must be cupy.ndarray")
        bound = self._prepare(args, params)
        types_ = {t: (np.dtype(t) if not _is_placeholder(t) else bound.get(t))
                  for t, _ in params}
        missing = [t for t, d in types_.items() if d is None]
        if missing:
            raise TypeError(f"{self.name}: cannot decide type {missing[0]} (no array bound it)")
        arrays = [a for a in args if isinstance(a, ndarray)]
        if not arrays:
            raise ValueError("Loop size is undecided.")
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        for o in outs:
            if o.shape != shape:
                raise ValueError(f"Out shape is mismatched ({self.name}: {o.shape} vs {shape})")
        if not outs:
            outs = [empty(shape, types_[t]) for t, _ in self.out_params]
        env = {}
        for (t, n), a in zip(self.in_params, args[:self.nin]):
            env[n] = (np.broadcast_to(a.view(np.ndarray), shape) if isinstance(a, ndarray)
                      else types_[t].type(a))
        for (t, n), o in zip(self.out_params, outs):
            env[n] = np.broadcast_to(o.view(np.ndarray), shape)
        self._compile(types_, args)
        self.calls += 1
        with np.errstate(all="ignore"):
            values = self.program.run(env, types_, {n for _, n in self.in_params},
                                      {n: t for t, n in self.out_params})
            for o, v in zip(outs, values):
                o.view(np.ndarray)[...] = v
        if self.no_return:
            return None
        return outs[0] if self.nout == 1 and not self.return_tuple else tuple(outs)


_REDUCERS = {"a + b": np.add, "a+b": np.add, "max(a, b)": np.maximum, "max(a,b)": np.maximum,
             "min(a, b)": np.minimum, "min(a,b)": np.minimum, "a * b": np.multiply}


class ReductionKernel(ElementwiseKernel):
    """cupy.ReductionKernel: map expression interpreted, reduce expression one of
    ``a + b``, ``max(a, b)``, ``min(a, b)``, ``a * b``, post-map interpreted."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                 identity, name="reduce_kernel", reduce_type=None, reduce_dims=True,
                 preamble="", options=()):
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.name = self.__name__ = name
        if " ".join(reduce_expr.split()) not in _REDUCERS:
            raise NotImplementedError(f"cupy stand-in: reduce expression {reduce_expr!r} "
                                      f"(emulated: {', '.join(_REDUCERS)})")
        self.reducer = _REDUCERS[" ".join(reduce_expr.split())]
        self.reduce_type = reduce_type
        self.calls = 0
        type_names = {t for t, _ in self.in_params + self.out_params}
        where = f"ReductionKernel {name}"
        self.map_expr, self.post_map_expr = map_expr, post_map_expr
        self.operation = None
        self.map = _Program(f"_mapped = {map_expr}", type_names, where)
        self.post = _Program(post_map_expr, type_names, where)

    def __call__(self, *args, out=None, axis=None, keepdims=False, stream=None):
        if len(args) != self.nin:
            raise TypeError(f"Wrong number of arguments for {self.name!r}: {self.nin} "
                            f"inputs, given {len(args)}")
        bound = self._prepare(args, self.in_params)
        params = self.in_params + self.out_params
        types_ = {t: (np.dtype(t) if not _is_placeholder(t) else bound.get(t))
                  for t, _ in params}
        if any(d is None for d in types_.values()):
            raise TypeError(f"{self.name}: cannot decide the output type")
        arrays = [a for a in args if isinstance(a, ndarray)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        env = {n: (np.broadcast_to(a.view(np.ndarray), shape) if isinstance(a, ndarray)
                   else types_[t].type(a)) for (t, n), a in zip(self.in_params, args)}
        (out_type, out_name), = self.out_params
        reduce_dtype = np.dtype(self.reduce_type) if self.reduce_type else types_[out_type]
        types_["_reduce"] = reduce_dtype
        self._compile({**types_, "_reduce": reduce_dtype}, args,
                      body=f"_reduce a = {self.map_expr};\n{self.post_map_expr}",
                      extra_params=())
        self.calls += 1
        with np.errstate(all="ignore"):
            env["_mapped"] = np.zeros((), reduce_dtype)
            mapped, = self.map.run(env, types_, set(env) - {"_mapped"},
                                   {"_mapped": "_reduce"})
            mapped = np.broadcast_to(mapped, shape)
            reduced = self.reducer.reduce(mapped, axis=axis, keepdims=keepdims,
                                          dtype=reduce_dtype)
            result, = self.post.run({"a": np.asarray(reduced), out_name: np.asarray(reduced)},
                                    types_, {"a"}, {out_name: out_type})
        result = np.asarray(result, dtype=types_[out_type])
        if out is not None:
            out.view(np.ndarray)[...] = result
            return out
        return wrap(np.array(result))


