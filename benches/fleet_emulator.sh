# Sourced by benches/fleet.sh and benches/policy.sh: one `pai-provision emulator --fleet` process
# serving a fleet file on the four regions, and the manifest its accounts share pointed at it.
#
#   start_fleet_emulator DIR FLEET_FILE LATENCY_MS
#
# needs $bin, $gen and the array `regions`; writes DIR/manifest.toml; sets `fleet_emulator_pid`,
# `fleet_served` (its "serving N accounts" line) and `fleet_sts` (its first listener, where STS
# is asked). Its stdout is read to the end in the background so that it never blocks.
start_fleet_emulator() {
  local dir=$1 fleet=$2 lat=$3 listen=() faults=() endpoints=() line r
  for r in "${regions[@]}"; do listen+=(--listen "$r=127.0.0.1:0"); done
  ((lat > 0)) && faults=(--faults "latency_ms=$lat")
  mkfifo "$dir/out"
  "$bin" emulator --fleet "$fleet" "${listen[@]}" "${faults[@]}" --seed 1 >"$dir/out" 2>"$dir/emulator.log" &
  fleet_emulator_pid=$!
  fleet_served=""
  exec 3<"$dir/out"
  while read -r line <&3; do
    case $line in
      listening\ *) set -- $line; endpoints+=("$2=$3") ;;
      serving\ *) fleet_served=$line; break ;;
    esac
  done
  cat <&3 >/dev/null &
  exec 3<&-
  [[ -n $fleet_served ]] || { echo "the emulator did not start:" >&2; cat "$dir/emulator.log" >&2; exit 1; }
  $gen manifest "$dir" "${endpoints[@]}" >/dev/null
  fleet_sts=${endpoints[0]#*=}
}
