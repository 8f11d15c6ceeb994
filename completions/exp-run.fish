# Config names after --replay: from `exp-status DIR --names`, where DIR is
# the experiment on the command line (its first operand), else $EXP_DIR,
# else the current directory. Added by `cargo xtask gen` to clap's script.
function __exp_run_config_names
    set -l takes_value '--color' '--jobs' '-j' '--retries' '--timeout' '--kill-after' '--names' '--shard' '--limit' '--stop-after' '--env' '--progress' '--status-every' '--max-failures' '--setup' '--replay' '--idle-exit' '--stale-after' '--devices' '--devices-per-config' '--memfree' '--record-env'
    set -l dir .
    set -q EXP_DIR[1]; and test -n "$EXP_DIR"; and set dir $EXP_DIR
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $word
            case --
                break
            case '--*=*'
            case '-*'
                contains -- $word $takes_value; and set skip 1
            case '*'
                set dir $word
                break
        end
    end
    for name in (exp-status $dir --names 2>/dev/null)
        printf '%s\tconfig\n' $name
    end
end

complete -c exp-run -l color -d 'Colour what people read: auto (on a terminal, unless NO_COLOR is set), always, or never. Data (JSON, CSV, names) is never coloured' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-run -s j -l jobs -d 'Number of workers; 0 means one per core. Default 1; with --devices, as many as the devices allow (len(LIST)/K), and no more' -r
complete -c exp-run -l retries -d 'Retry a failed config up to N more times in this run' -r
complete -c exp-run -l timeout -d 'Kill a config\'s whole process group after DUR; it is recorded failed. 0 means no limit, as for timeout(1)' -r
complete -c exp-run -l kill-after -d 'After SIGTERM, wait DUR before SIGKILL' -r
complete -c exp-run -l names -d 'Only these configs: bare names or JSON lines with "name"; `-` is stdin. Listed failed configs are retried; done ones are skipped' -r -F
complete -c exp-run -l shard -d 'Only configs whose name hashes to I modulo N (64-bit FNV-1a), 0 <= I < N' -r
complete -c exp-run -l limit -d 'Start at most N configs' -r
complete -c exp-run -l stop-after -d 'Start no new config after DUR (e.g. 3h50m, for Slurm time limits)' -r
complete -c exp-run -l env -d 'An environment variable for every command, KEY=VALUE (a template, e.g. OMP_NUM_THREADS={threads}; for GPUs, see --devices). Repeatable' -r
complete -c exp-run -l progress -d 'Progress bars on a terminal (auto), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c exp-run -l status-every -d 'Off a terminal, print a line every DUR naming the configs still running, so a log is never silent for long; 0 or off: never' -r
complete -c exp-run -l max-failures -d 'Launch nothing more once N configs failed in this run (running ones finish); exit 1. A brake for a broken command on a cluster' -r
complete -c exp-run -l setup -d 'Run CMD (sh -c) once before the pool; the KEY=VALUE lines it prints until it exits are added to every config\'s environment. If it fails, nothing runs (exit 5). What it leaves running (a server started with &) serves the run and is stopped when the run ends; what that prints goes to DIR/.exp/setup-RUNNER.log' -r
complete -c exp-run -l replay -d 'Run config NAME again in the foreground (inherited stdio, EXP_CACHE_MODE=replay), changing no state; exit with its exit code. It runs the argv that ran (its command.json), in today\'s workdir and environment. Repeatable' -r -f -a '(__exp_run_config_names)'
complete -c exp-run -l idle-exit -d 'With --follow: end (exit 0, or 1 if a config it ran failed) after DUR with nothing running and nothing to run' -r
complete -c exp-run -l stale-after -d 'A heartbeat older than this marks a runner on another host dead' -r
complete -c exp-run -l devices -d 'Device tokens to share out, e.g. GPUs: 0,1,2,3 or 0-3, or names (GPU UUIDs; in a Slurm job, "$CUDA_VISIBLE_DEVICES"). Each running config holds --devices-per-config of them, given to it as CUDA_VISIBLE_DEVICES, EXP_DEVICES and {devices}, until every process of it has ended. Runners sharing the lock folder $EXP_DEVICE_LOCKS (default /tmp/exp-devices) never hold a token at once' -r
complete -c exp-run -l devices-per-config -d 'With --devices: how many tokens each config holds' -r
complete -c exp-run -l memfree -d 'Start a config only while SIZE of memory (512M, 4G) is available: MemAvailable, or the memory cgroup\'s limit less its usage without page cache, the lower. Starts are a second apart while less than twice SIZE is available' -r
complete -c exp-run -l record-env -d 'Record the variables of each command\'s environment whose names match GLOB (*, ? and [A-Z]) in its provenance.json. Repeatable; none by default. \'*\' records them all, secrets too: it warns' -r
complete -c exp-run -l retry-failed -d 'First mark every failed config todo again'
complete -c exp-run -l dry-run -d 'Print what would run, and run nothing: each config\'s name, argv and the variables exp would set for it (never the inherited ones); with --json, {"name","argv","env"} per config'
complete -c exp-run -l json -d 'JSON Lines events on stdout: start and end of every config'
complete -c exp-run -s q -l quiet -d 'No closing line (for cron)'
complete -c exp-run -l exclusive -d 'Exit 4 at once if another runner is active'
complete -c exp-run -l no-cache -d 'Set EXP_CACHE_MODE=off instead of record'
complete -c exp-run -l interactive -d 'On a terminal, Enter lists the running configs and takes a snapshot'
complete -c exp-run -l replay-all -d 'Replay every config that ran (done or failed) in order, going on past failures; exit 1 if any replay failed'
complete -c exp-run -l require-result -d 'Record a config that exits 0 without a result as failed ("no result"), as exp-init --require-result does for every run'
complete -c exp-run -l follow -d 'A live experiment: when no todo config is left, keep waiting for configs that exp-add adds (from any shell or host) and run them as they come, until a signal (or --idle-exit). --limit, --max-failures, --stop-after and --shard keep their meaning'
complete -c exp-run -l require-clean -d 'Refuse to run (exit 2, nothing changed) unless the workdir is in a git work tree whose tracked files are as HEAD has them; the changed files are named'
complete -c exp-run -s h -l help -d 'Print help (see more with \'--help\')'
complete -c exp-run -s V -l version -d 'Print version'
