# The reader copies are generated from book/ and lectures/ (`make colab-copies`)
# and tests/test_colab_copies.py checks that they match; nbval (`make test`)
# runs the source notebooks, so it leaves these copies alone.
collect_ignore_glob = ["*.ipynb", "lectures/*.ipynb"]
