#!/usr/bin/env bash
# PLACEHOLDER: the demo is still to be written (the lead replaces this file).
# `make demo` runs it with a private throwaway cluster in the PG* environment.
echo "demo not written yet"
exit 1
