"""Build the Cython core of labelaudit.

Metadata lives in ``pyproject.toml``; this file only declares the extension.
OpenMP is used when a small test program compiles and links with ``-fopenmp``;
otherwise the core builds serially (the kernels keep the same results).
Set ``LABELAUDIT_DISABLE_OPENMP=1`` to force a serial build and
``LABELAUDIT_DEBUG_CYTHON=1`` to turn bounds checks back on.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.sysconfig import customize_compiler

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or empty lists if unavailable."""
    if os.environ.get("LABELAUDIT_DISABLE_OPENMP"):
        return [], []
    if sys.platform == "win32":
        return ["/openmp"], []
    flags = ["-fopenmp"]
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(OPENMP_PROBE)
        cc = new_compiler()
        customize_compiler(cc)
        try:
            objs = cc.compile([src], output_dir=tmp, extra_postargs=flags)
            cc.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=flags)
            subprocess.run([os.path.join(tmp, "probe")], check=True, capture_output=True)
        except Exception:  # noqa: BLE001 - any failure means "no OpenMP"
            return [], []
        return flags, flags
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


debug = bool(os.environ.get("LABELAUDIT_DEBUG_CYTHON"))
omp_compile, omp_link = openmp_flags()

extensions = [
    Extension(
        "labelaudit._core",
        ["src/labelaudit/_core.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=(["-O3", "-ffp-contract=off"] if sys.platform != "win32" else []) + omp_compile,
        extra_link_args=omp_link,
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": debug,
            "wraparound": False,
            "initializedcheck": debug,
            "nonecheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
    ),
)
