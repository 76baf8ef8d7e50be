/**
 * One or two examples per command, shown at the end of its --help (as etcdctl's and kubectl's
 * help do). Keyed by the command's path; program.test.ts checks that every flag they use exists.
 */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  up: [
    'etcd-steward up                 # foreground until Ctrl-C',
    'etcd-steward up --detach --config steward.yaml',
  ],
  down: ['etcd-steward down', 'etcd-steward down --purge        # also remove data and logs'],
  status: ['etcd-steward status', 'etcd-steward status --endpoints http://10.0.0.1:2379 -o json'],
  'backup create': [
    'etcd-steward backup create',
    'etcd-steward backup create --to s3://bucket/etcd?region=eu-west-1',
  ],
  'backup list': [
    'etcd-steward backup list',
    'etcd-steward backup list --storage file:///mnt/nfs/etcd-backups',
  ],
  'backup verify': [
    'etcd-steward backup verify latest',
    'etcd-steward backup verify --all --drill',
    'etcd-steward backup verify latest --identity /secure/etcd-backup.key',
  ],
  'backup prune': ['etcd-steward backup prune --dry-run', 'etcd-steward backup prune --keep-last 7'],
  'backup delete': ['etcd-steward backup delete etcd-20261206T041700Z-r1234'],
  'backup keygen': ['etcd-steward backup keygen --out /secure/etcd-backup.key'],
  'backup reencrypt': ['etcd-steward backup reencrypt --all --identity /secure/old.key'],
  'backup compact': [
    'etcd-steward backup compact latest --compression gzip',
    'etcd-steward backup compact -o json',
  ],
  'backup import': ['etcd-steward backup import ./db-2026-12-06_04-00 --to file:///mnt/nfs/etcd-backups'],
  'snapshot inspect': [
    'etcd-steward snapshot inspect latest',
    'etcd-steward snapshot inspect ./snap.db --prefix /greptime --keys',
  ],
  'snapshot diff': [
    'etcd-steward snapshot diff latest             # against the live cluster',
    'etcd-steward snapshot diff ./a.db ./b.db --keys',
  ],
  restore: [
    'etcd-steward restore latest --new-cluster etcd-restored',
    'etcd-steward restore latest --to-time 2026-12-06T04:00:00Z --new-cluster etcd-pitr',
  ],
  upgrade: [
    'etcd-steward upgrade --to 3.6 --dry-run       # the pre-flight checks and the order only',
    'etcd-steward upgrade --to 3.6.16',
    'etcd-steward upgrade --to 3.5.36              # back, while the cluster version is still 3.5',
  ],
  downgrade: ['etcd-steward downgrade --to 3.5 --storage file:///var/backups/etcd'],
  defrag: ['etcd-steward defrag --dry-run', "etcd-steward defrag --rule 'dbSizeFree > 100MiB' --compact"],
  'member list': ['etcd-steward member list', 'etcd-steward member list -o json'],
  'member add': ['etcd-steward member add'],
  'member remove': ['etcd-steward member remove etcd-4'],
  'member replace': ['etcd-steward member replace etcd-1          # after its data dir was lost'],
  recover: [
    'etcd-steward recover                    # quorum lost: the plan, nothing changed',
    'etcd-steward recover --yes              # rebuild from the furthest source',
    'etcd-steward recover --source backup --yes -o json',
  ],
  serve: ['etcd-steward serve', 'etcd-steward serve --listen 0.0.0.0:9779'],
  'render kubernetes': ['etcd-steward render kubernetes --output-dir ./manifests'],
  'render alerts': ['etcd-steward render alerts --output-file etcd-alerts.yaml'],
  'render grafana': ['etcd-steward render grafana --output-file etcd-dashboard.json'],
  'restore-member': [
    'etcd-steward restore-member latest --name etcd-0 --initial-cluster etcd-0=http://etcd-0.etcd-headless:2380 --initial-cluster-token etcd-restored --initial-advertise-peer-urls http://etcd-0.etcd-headless:2380 --data-dir /var/lib/etcd',
  ],
  'member-init': [
    'etcd-steward member-init --config /etc/etcd-steward/steward.yaml --endpoints http://etcd-0.etcd-headless:2379 --write-config /run/etcd-steward/etcd.yaml -- --name=etcd-0 --data-dir=/var/lib/etcd/data --listen-peer-urls=http://0.0.0.0:2380 --initial-advertise-peer-urls=http://etcd-0.etcd-headless:2380 --initial-cluster=etcd-0=http://etcd-0.etcd-headless:2380 --initial-cluster-token=etcd',
  ],
  'import bitnami': ['etcd-steward import bitnami values.yaml --out steward.yaml'],
  'adopt bitnami': [
    'etcd-steward adopt bitnami etcd.etcd-cluster --values etcd.yaml --storage s3://backups/etcd --greptimedb mycluster.default --dry-run',
    'etcd-steward adopt bitnami etcd.etcd-cluster --values etcd.yaml --storage s3://backups/etcd --greptimedb mycluster.default --out steward.yaml',
  ],
  apply: ['etcd-steward apply --dry-run=server', 'etcd-steward apply --wait'],
  'auth enable': ['etcd-steward auth enable --config steward.yaml --wait 10m'],
  'greptimedb repoint': [
    'etcd-steward greptimedb repoint greptimedb.default --endpoints http://etcd-0.etcd:2379',
  ],
  certs: [
    'etcd-steward certs --out ./certs',
    'etcd-steward certs --config k8s.yaml --out ./certs --secrets   # Kubernetes Secrets too',
  ],
  'install-etcd': ['etcd-steward install-etcd 3.6', 'etcd-steward install-etcd 3.5.16'],
  version: ['etcd-steward version', 'etcd-steward version -w json'],
  completion: [
    'source <(etcd-steward completion bash)',
    'etcd-steward completion fish > ~/.config/fish/completions/etcd-steward.fish',
  ],
};
