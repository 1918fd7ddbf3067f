"""Install the automix package and its `automix` console command (dependencies from requirements.txt)."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_requirements(name: str) -> list:
    lines = (HERE / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


version = {}
exec((HERE / "automix" / "__init__.py").read_text(), version)  # only defines __version__

setup(
    name="automix",
    version=version["__version__"],
    description="Deep-learning automatic music mixing (FxNorm-Automix, ISMIR 2022), rebuilt",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["automix", "automix.*"]),
    # pytest is a test-only requirement; tinysoundfont (demo data) is installed with --no-deps by the scripts
    install_requires=[r for r in read_requirements("requirements.txt") if not r.startswith(("pytest", "auraloss"))],
    extras_require={"test": ["pytest", "auraloss"], "demo": read_requirements("requirements-nodeps.txt")},
    entry_points={"console_scripts": ["automix=automix.cli:main"]},
    license="MIT",
)
