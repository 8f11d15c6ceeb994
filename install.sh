#!/bin/sh
# Install exp: the seven exp-* tools, their man pages and shell completions.
#
#   ./install.sh                          build (release), then install into /usr/local
#   PREFIX=$HOME/.local ./install.sh      into your home: put $HOME/.local/bin on PATH
#   ./install.sh --no-build               install binaries built already
#
# Under PREFIX (default /usr/local) it writes:
#   bin/exp-init ... bin/exp-clean                      the tools
#   share/man/man1/exp-*.1, share/man/man7/exp.7        man exp-run, man 7 exp
#   share/bash-completion/completions/exp-*             bash (bash-completion loads them)
#   share/zsh/site-functions/_exp-*                     zsh (a folder of $fpath)
#   share/fish/vendor_completions.d/exp-*.fish          fish
#
# bash-completion finds the completions under /usr/local, /usr and
# $HOME/.local by itself, zsh under /usr/local and /usr; for another PREFIX,
# add PREFIX/share to XDG_DATA_DIRS (bash) and PREFIX/share/zsh/site-functions
# to fpath (zsh). man finds the pages of PREFIX/bin's tools through PATH.
#
# DESTDIR, if set, is put before every path (for packaging). BINDIR is where
# the built binaries are (default: $CARGO_TARGET_DIR/release, else
# target/release). The man pages and completions are the committed ones in
# man/ and completions/ (`cargo xtask gen` makes them). Running it again
# replaces what it installed; to uninstall, delete those files.
set -eu
cd "$(dirname "$0")"

build=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        -h | --help)
            sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "install.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

tools="exp-init exp-add exp-run exp-status exp-snapshot exp-summary exp-clean"
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BINDIR=${BINDIR:-${CARGO_TARGET_DIR:-target}/release}
root="$DESTDIR$PREFIX"

if [ "$build" = 1 ]; then
    cargo build --release --package exp --bins
fi
for tool in $tools; do
    if [ ! -x "$BINDIR/$tool" ]; then
        echo "install.sh: $BINDIR/$tool is not built; run ./install.sh without --no-build, or set BINDIR" >&2
        exit 1
    fi
done

install -d "$root/bin" "$root/share/man/man1" "$root/share/man/man7" \
    "$root/share/bash-completion/completions" "$root/share/zsh/site-functions" \
    "$root/share/fish/vendor_completions.d"
for tool in $tools; do
    install -m 755 "$BINDIR/$tool" "$root/bin/$tool"
    install -m 644 "man/$tool.1" "$root/share/man/man1/$tool.1"
    # bash-completion looks a command's completion up by the command's name.
    install -m 644 "completions/$tool.bash" "$root/share/bash-completion/completions/$tool"
    install -m 644 "completions/_$tool" "$root/share/zsh/site-functions/_$tool"
    install -m 644 "completions/$tool.fish" "$root/share/fish/vendor_completions.d/$tool.fish"
done
install -m 644 man/exp.7 "$root/share/man/man7/exp.7"

echo "installed exp into $root: try man exp-run and man 7 exp"
case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "note: $PREFIX/bin is not on PATH" ;;
esac
