"""The scripts' logic, importable and testable: each module has ``main(argv=None)``; ``scripts/`` holds thin entry
files at the paths the README gives."""
