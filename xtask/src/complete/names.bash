# Config names after @NAMES_LIST@: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
_@FUNCTION@_config_names() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" && $COMP_CWORD -ge 2 ]]; then
        prev="${COMP_WORDS[COMP_CWORD-2]}"
    fi
    case "$prev" in
        @CASES@)
            local takes_value=" @TAKES_VALUE@ " dir="${EXP_DIR:-.}" word skip="" i
            for (( i = 1; i < COMP_CWORD; i++ )); do
                word="${COMP_WORDS[i]}"
                if [[ -n $skip ]]; then
                    [[ $word == "=" ]] || skip=""
                    continue
                fi
                case "$word" in
                    --) break ;;
                    =) skip=1 ;;
                    -*) [[ $takes_value == *" $word "* ]] && skip=1 ;;
                    *) dir="$word"; break ;;
                esac
            done
            [[ $dir == "~/"* ]] && dir="$HOME/${dir#"~/"}"
            local IFS=$'\n'
            COMPREPLY=( $(compgen -W "$(exp-status "$dir" --names 2>/dev/null)" -- "$cur") )
            return 0
            ;;
    esac
    _@FUNCTION@ "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _@FUNCTION@_config_names -o nosort -o bashdefault -o default @TOOL@
else
    complete -F _@FUNCTION@_config_names -o bashdefault -o default @TOOL@
fi
