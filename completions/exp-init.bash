_exp__init() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="exp__init"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        exp__init)
            opts="-h -V --color --name --description --naming --shell --default --env --workdir --update --require-result --no-require-result --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                --name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --description)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --naming)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --shell)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --default)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --env)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --workdir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _exp__init -o nosort -o bashdefault -o default exp-init
else
    complete -F _exp__init -o bashdefault -o default exp-init
fi

# Config names after --name: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
_exp__init_config_names() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" && $COMP_CWORD -ge 2 ]]; then
        prev="${COMP_WORDS[COMP_CWORD-2]}"
    fi
    case "$prev" in
        --name)
            local takes_value=" --color --name --description --naming --shell --default --env --workdir " dir="${EXP_DIR:-.}" word skip="" i
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
    _exp__init "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _exp__init_config_names -o nosort -o bashdefault -o default exp-init
else
    complete -F _exp__init_config_names -o bashdefault -o default exp-init
fi
