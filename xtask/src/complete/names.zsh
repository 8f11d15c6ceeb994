# Config names after @NAMES_LIST@: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
(( $+functions[@FUNCTION@] )) ||
@FUNCTION@() {
    local takes_value=" @TAKES_VALUE@ " dir="${EXP_DIR:-.}" word skip="" i
    for (( i = 2; i < CURRENT; i++ )); do
        word="${words[i]}"
        if [[ -n $skip ]]; then
            skip=""
            continue
        fi
        case "$word" in
            --) break ;;
            --*=*) ;;
            -*) [[ $takes_value == *" $word "* ]] && skip=1 ;;
            *) dir="$word"; break ;;
        esac
    done
    [[ $dir == "~/"* ]] && dir="$HOME/${dir#"~/"}"
    local -a names
    names=(${(f)"$(exp-status "$dir" --names 2>/dev/null)"})
    compadd -a names
}
