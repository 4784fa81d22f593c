#!/usr/bin/env python
"""Install rnan_basicsr: RNAN (ICLR 2019) as a BasicSR plugin, with the ``basicsr`` command.

Install torch first (the build that fits your GPU), then ``pip install --no-build-isolation basicsr==1.4.2``
(its setup.py imports torch), then ``pip install -e .[test]``; ``scripts/setup_venv.sh`` does all three.
"""
from setuptools import find_packages, setup

import runpy
from os import path as osp
from pathlib import Path

HERE = osp.dirname(osp.abspath(__file__))
DOCS_REQUIRES = ['mkdocs>=1.6', 'mkdocs-material>=9.5']
SPANDREL_REQUIRES = ['spandrel>=0.4,<0.5']
ONNX_REQUIRES = ['onnx>=1.16', 'onnxscript>=0.2', 'onnxruntime>=1.18']
# rnan_basicsr/version.py, read without importing the package (importing it imports basicsr and torch)
VERSION_FILE = runpy.run_path(osp.join(HERE, 'rnan_basicsr', 'version.py'))

setup(
    name='rnan_basicsr',
    version=VERSION_FILE['__version__'],
    description='RNAN (Residual Non-local Attention Networks for Image Restoration, ICLR 2019) for BasicSR',
    long_description=Path(HERE, 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    keywords='computer vision, image restoration, denoising, demosaicing, JPEG, super-resolution, basicsr',
    license='Apache License 2.0',
    packages=find_packages(include=('rnan_basicsr', 'rnan_basicsr.*')),
    python_requires='>=3.8',
    # No CUDA-specific pins: install the torch build that fits your machine before this package.
    install_requires=[
        # the same range rnan_basicsr.compat checks at import
        'basicsr' + VERSION_FILE['BASICSR_SPECIFIER'],
        'torch>=2.4',  # the oldest the test suite passes on: older torch refuses training states with weights_only
        'torchvision>=0.19',
        'numpy>=1.20',
        'opencv-python>=4.5',
        'packaging>=20',
        'Pillow>=8',
        'pydantic>=2.7,<3',  # the declared option file (rnan_basicsr.options.schema)
        'lmdb>=1.0',
        'psutil>=5.8',  # the benchmark's memory column: a process's resident memory while it runs
        'pyyaml>=5.1',
        'safetensors>=0.3',
        'tensorboard>=2.5',
        'tqdm>=4.40',
    ],
    extras_require={
        # The docs site (mkdocs.yml): MkDocs with the Material theme, the usual pair for plain-Markdown project docs;
        # 1.6 for the link/anchor/nav validation that `mkdocs build --strict` enforces.
        'docs': DOCS_REQUIRES,
        # RNAN in spandrel's model loader (chaiNNer, ComfyUI, traiNNer-redux): rnan_basicsr.spandrel.install()
        'spandrel': SPANDREL_REQUIRES,
        # scripts/export_onnx.py: torch.onnx's exporter needs onnx and onnxscript; onnxruntime checks the export
        'onnx': ONNX_REQUIRES,
        # The tests build the site (tests/test_docs_site.py), load files with spandrel and run exported ONNX files.
        'test': ['pytest>=7', 'scikit-image>=0.19', 'flake8>=5', 'isort>=5.10', 'jsonschema>=4.18'] + DOCS_REQUIRES +
        SPANDREL_REQUIRES + ONNX_REQUIRES,
    },
    entry_points={'console_scripts': ['basicsr = rnan_basicsr.cli:main']},
    classifiers=[
        'Programming Language :: Python :: 3',
        'Operating System :: OS Independent',
        'Topic :: Scientific/Engineering :: Image Processing',
    ],
)
