using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using TinyMlops.Registry;
using TinyMlops.Releases;

namespace TinyMlops.Cli;

/// <summary>The declared command tree: every command, its options, their kinds, limits and help text.</summary>
public static class Commands
{
    private const string RegistryHelp = "the registry: a folder (default registry) or a PostgreSQL connection string or postgresql:// URL";
    private const string TrainerHelp = "a trainer service URL to work through instead of the registry (it signs with its own keys)";
    private const string TokenHelp = "with --trainer: a file holding an operator token (owner-only; default: TINYMLOPS_OPERATOR_TOKEN)";

    /// <summary>Builds the root command.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("TinyMlops: train, quantise, provision and benchmark the node, gateway and trainer tiers.");

        root.Subcommands.Add(Make("demo", "The three tiers on the shipped fan recording: train two model versions, release them, roll them out over the air to gateways and simulated nodes, verify what the nodes flag, and summarise (the main job).",
            DemoCommand.Run,
            Count("--nodes", "simulated nodes (default 4), node i at the i-th held-out fan speed"),
            Count("--gateways", "gateways, each its own process with its embedded broker (default 1)"),
            Number("--duration", "seconds the nodes replay held-out recordings once release 1 runs on them (default 120)"),
            Number("--speed", "replay rate: 1 is the board's real sample rate (default 4)"),
            Text("--broker", "mqtt://HOST:PORT of an external broker the gateway joins instead of hosting its own (one gateway)"),
            Text("--scenario", "a fleet scenario file (docs/fleet.md) for the nodes instead of the default; its nodes are esp32-wroom-32-100hz"),
            Text("--out", "output folder, cleared when it holds an earlier demo (default out/demo)")));

        root.Subcommands.Add(Make("detect", "Fit detectors on the shipped fan recording, quantise them to int8 and run the firmware core over every held-out window (the main job).",
            DetectCommand.Run,
            Text("--board", "board profile (default esp32-wroom-32)"),
            Text("--data", "folder of the UCI fan recording (default: the shipped data/uci-accelerometer-fan)"),
            Text("--out", "output folder (default out/detect)")));

        root.Subcommands.Add(Make("train", "Train the node detector and the gateway verifier, quantise, export ONNX, plots and a model card.",
            TrainCommand.Train,
            Text("--data", "folder of recordings: ADI *.Wfm.csv, UCI accelerometer.csv or TinyMlops *.csv (docs/datasets.md)", required: true),
            Text("--board", "board profile the detector must fit (default esp32-wroom-32)"),
            Text("--out", "output folder (default out/train)"),
            Count("--seed", "seed of the split and of training (default 42)", min: 0),
            Count("--rank", "PCA detector rank (default 8)"),
            Count("--hidden", "verifier hidden units (default 32)"),
            Count("--epochs", "verifier training epochs (default 300)"),
            Number("--weight-decay", "verifier weight decay per optimiser step (default 0.0001)"),
            Number("--uci-rate", "sample rate of the UCI fan copy in Hz, which it does not state (default 100)"),
            Choice("--cv", "also evaluate leave-one-group-out: 'groups' (default: the single split only)", "none", "groups"),
            Choice("--detector", "the node's detector: 'pca' (healthy windows only, threshold for 1 % false alarms) or 'supervised' (logistic on every class, threshold for --detector-recall; the verifier confirms) (default pca)", "pca", "supervised"),
            Number("--detector-recall", "with --detector supervised: share of fault validation windows it must flag (default 0.99)"),
            Number("--detector-false-alarms", "with --detector supervised: instead of --detector-recall, the share of healthy validation windows it may flag"),
            Text("--hold-out", "groups (operating points, e.g. speed025,speed035) left out of training and evaluation, kept for a fleet or demo to replay")));

        root.Subcommands.Add(Make("eval", "A trained model folder's figures on any recordings, as JSON.",
            TrainCommand.Eval,
            Text("--model", "folder written by train", required: true),
            Text("--data", "folder of recordings", required: true),
            Text("--groups", "only these groups (operating points), comma-separated: e.g. the ones train's --hold-out kept back")));

        root.Subcommands.Add(Make("bench-train", "Train on the ADI recordings: wall time, artifact sizes and every target the model card carries.",
            TrainCommand.Bench,
            Text("--data", "folder of recordings (default ../shared/datasets/adi_cbm_adxl356_00lb)"),
            Text("--board", "board profile (default esp32-wroom-32)"),
            Text("--out", "output folder (default out/bench-train)"),
            Count("--seed", "seed (default 42)", min: 0)));

        root.Subcommands.Add(Make("bench", "int8 interpreter figures per conformance model against a float reference.",
            BenchCommand.Run,
            Count("--iterations", "invocations per model (default 20000)")));

        root.Subcommands.Add(Make("bench-interp", "Per-window cost of the node pipeline on each sensor board under an IL interpreter (Mono, a proxy for nanoFramework's), against its window period.",
            InterpBenchCommand.Run,
            Count("--ms", "time per measurement in ms (default 300)"),
            Count("--rank", "PCA rank of the detector shape (default 8)"),
            Text("--out", "output folder (default out/bench-interp)")));

        root.Subcommands.Add(Make("provision", "Write a node's provisioning file (I:\\node.cfg) from its board profile; optionally register its login with a gateway.",
            ProvisionCommand.Run,
            [
                Text("--board", "board profile of the node", required: true),
                Text("--node", "node id: 1-64 letters, digits, '-', '_' or '.' (not starting with 'gateway' or 'tinymlops'); or --batch"),
                .. NodeNetwork(),
                Text("--mqtt-user", "MQTT user (default: the node id)"),
                Text("--mqtt-password", "MQTT password (default: 128 random bits)"),
                Text("--key", "node update key in hex, at least 16 bytes (default: 32 random bytes)"),
                Text("--out", "output folder (default out/provision/NODE)"),
                Text("--gateway-nodes", "the gateway's nodes.json to register the node's login in"),
                Text("--gateway-keys", "the gateway's node-keys file (Gateway:Releases:NodeKeysFile) to register the node's update key in"),
                Text("--batch", "a CSV file with a 'node' column: provision every node of it (each its own key and password, in --out/NODE); all are checked before any is written"),
                Flag("--replace", "give a node the gateway already knows new credentials (its old login stops working)"),
            ]));

        root.Subcommands.Add(Make("flash", "Flash and provision a new node at the bench: nanoff firmware, application and files (its identity and the champion model), registration, and its first telemetry.",
            FlashCommand.Run,
            [
                Text("--board", "board profile of the node (it names the nanoff target)", required: true),
                Text("--port", "serial port the node is on (COM3, /dev/ttyUSB0)", required: true),
                Text("--node", "node id: 1-64 letters, digits, '-', '_' or '.' (not starting with 'gateway' or 'tinymlops')", required: true),
                Text("--site", "where the node is fitted (recorded with its registration)"),
                .. NodeNetwork(),
                Text("--app", "the application's nanoFramework deployment image (.bin) to deploy after the firmware"),
                Text("--ca-file", "the broker's CA certificate (PEM), deployed to the node as its TLS pin (I:\\ plus the --ca name)"),
                Text("--registry", RegistryHelp + "; the node is registered there and gets its board class's champion (default: ./registry when it exists)"),
                Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp),
                Text("--gateway", "the gateway's configuration folder: the node's login goes into its nodes.json, its update key into node-keys.json"),
                Text("--gateway-id", "the gateway's id, recorded with the registration"),
                Text("--gateway-url", "the gateway's HTTP address: wait there for the node's first telemetry (GET /api/nodes)"),
                Text("--gateway-token-file", "an operator token of the gateway (owner-only; default: TINYMLOPS_GATEWAY_TOKEN)"),
                Number("--wait", "seconds to wait for the first telemetry (default 120)"),
                Text("--out", "the node's folder: its files, deploy.json and flash-state.json (default out/flash/NODE)"),
                Flag("--dry-run", "print every file and nanoff command line, and run or write nothing"),
            ]));

        var nodes = Make("nodes", "Registered nodes: board, gateway, site, newest rollout state, and (with --gateway-url) last seen, model and update state.",
            NodesCommand.List,
            Text("--registry", RegistryHelp), Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp),
            Text("--gateway-url", "the gateway's HTTP address, for what it last heard from each node"),
            Text("--gateway-token-file", "an operator token of the gateway (owner-only; default: TINYMLOPS_GATEWAY_TOKEN)"));
        nodes.Subcommands.Add(Make("revoke", "Remove a node's registration, broker login and update key: it can neither log in nor take updates.",
            NodesCommand.Revoke,
            new Argument<string>("id") { Description = "node id" },
            Text("--registry", RegistryHelp), Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp),
            Text("--gateway", "the gateway's configuration folder (nodes.json, node-keys.json)")));
        root.Subcommands.Add(nodes);

        var gateways = new Command("gateways", "Credentials of the gateways the trainer's ingestion service accepts.");
        gateways.Subcommands.Add(Make("add", "Issue a gateway's credential; the token goes owner-only to --out, never to the screen.",
            o => GatewaysCommand.Add(o),
            Id(),
            Text("--store", "the ingestion service's store folder (gateways.json is kept there)", required: true),
            Text("--out", "where to write the token (default out/gateways/ID.credential)")));
        gateways.Subcommands.Add(Make("revoke", "Withdraw a gateway's credential: its uploads are refused from then on.",
            o => GatewaysCommand.Revoke(o),
            Id(),
            Text("--store", "the ingestion service's store folder", required: true)));
        gateways.Subcommands.Add(Make("assign", "Set the board classes a gateway serves: it sees only their releases.",
            ReleaseCommand.Assign,
            Id(),
            Text("--board-classes", "board classes, comma-separated (e.g. 2,3)", required: true),
            Text("--registry", RegistryHelp)));
        root.Subcommands.Add(gateways);

        root.Subcommands.Add(Make("release", "Register a trained model folder and sign its release, if it scores no worse than the champion.",
            ReleaseCommand.Release,
            Text("--model", "model folder written by 'tinymlops train'", required: true),
            Text("--registry", RegistryHelp), Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp),
            Text("--keys", "key folder (default keys)"),
            Text("--eval-data", "evaluation recordings (default: the set the registry judged the last release on)"),
            Text("--force", "release although a gate figure is below the champion's; the reason given is recorded"),
            Text("--min-gateway", "lowest gateway version that may install it (default: this version of tinymlops)"),
            Number("--shadow-agreement", "agreement the verifier must reach in shadow before a gateway promotes it (default 0.9)")));
        root.Subcommands.Add(Make("fleet", "Run simulated nodes (the device's own code) replaying recordings on a schedule against a gateway's broker, and score what they detected and the gateway confirmed.",
            FleetCommand.Run,
            Text("--model", "a `tinymlops train` folder: its detector.tmlm goes on every new node as release 1", required: true),
            Text("--broker", "the gateway's broker (default mqtt://127.0.0.1:1883)"),
            Count("--nodes", "nodes of the default scenario (default 3): node i at the i-th held-out fan speed, healthy, then each imbalance"),
            Text("--board", "board of the default scenario's nodes (default esp32-wroom-32)"),
            Text("--scenario", "a scenario file (docs/fleet.md) instead of the default"),
            Text("--data", "recordings to replay (default: the shipped fan recording)"),
            Text("--gateway-nodes", "the gateway's nodes.json to register the nodes' logins in"),
            Text("--gateway-keys", "the gateway's node-keys file to register the nodes' update keys in"),
            Number("--duration", "wall-clock seconds to run (default 60)"),
            Number("--samples", "instead of --duration: run until every node has replayed this many seconds of recording"),
            Number("--speed", "replay rate: 1 is the board's real sample rate (default 1)"),
            Text("--out", "folder for identities, node storage and fleet-summary.json (default out/fleet)")));
        root.Subcommands.Add(Make("release-app", "Sign a release of the gateway application: a publish folder packed as its bundle, which gateways install beside the running one.",
            ReleaseCommand.ReleaseApp,
            Text("--bundle", "the gateway's publish folder (dotnet publish gateway/TinyMlops.Gateway -r RUNTIME)", required: true),
            Text("--version", "the application version it is released as (major.minor.patch)", required: true),
            Choice("--runtime", "runtime it was published for", [.. GatewayAppChannels.Runtimes]),
            Text("--registry", RegistryHelp),
            Text("--keys", "key folder (default keys)")));
        var models = Make("models", "Registered versions with their lineage, aliases and releases.",
            ReleaseCommand.List,
            Text("--registry", RegistryHelp), Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp),
            Count("--board-class", "only this board class"));
        models.Subcommands.Add(Make("promote", "Point an alias (champion by default) of a version's board class at it.",
            ReleaseCommand.Promote,
            new Argument<string>("version") { Description = "registered version, e.g. esp32-wroom-32-3" },
            Text("--reason", "why (recorded in the alias history)", required: true),
            Choice("--alias", "champion (default) or canary", ModelRegistry.Champion, ModelRegistry.Canary),
            Text("--registry", RegistryHelp), Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp)));
        root.Subcommands.Add(models);

        var rollout = new Command("rollout", "Staged rollouts of a release to the nodes, through their gateways.");
        rollout.Subcommands.Add(Make("start", "Start rolling a release out in groups.",
            RolloutCommand.Start,
            Count("--board-class", "board class of the release"),
            Text("--sequence", "release sequence (default: the board class's newest)"),
            Text("--groups", "cumulative group sizes, node counts or shares (default 1,10%,50%,100%)"),
            Number("--success", "share of a group that must confirm before the next starts (default 0.95)"),
            Number("--abort", "share of a group failing that aborts the rollout (default 0.1)"),
            Text("--registry", RegistryHelp), Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp)));
        rollout.Subcommands.Add(Make("status", "Each group and each node of the newest rollout (or --id).", RolloutCommand.Status,
            Count("--id", "rollout id"), Text("--registry", RegistryHelp), Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp)));
        foreach ((string name, string state, string what) in new[] { ("pause", "paused", "Stop admitting nodes (downloads under way finish)."), ("resume", "running", "Admit nodes again."), ("abort", "aborted", "End the rollout: no node is offered the release any more.") })
        {
            rollout.Subcommands.Add(Make(name, what, o => RolloutCommand.Change(o, state),
                Count("--id", "rollout id (default: the newest)"), Text("--reason", "why (recorded)", required: true), Text("--registry", RegistryHelp), Text("--trainer", TrainerHelp), Text("--token-file", TokenHelp)));
        }

        root.Subcommands.Add(rollout);

        var keys = new Command("keys", "The release keys: an offline root key that certifies the signing key, rotated without touching gateways.");
        keys.Subcommands.Add(Make("create", "Create the root key (in an offline folder) and the first signing key.",
            KeysCommand.Create,
            Text("--vendor", "vendor id the keys sign for", required: true),
            Text("--root-dir", "folder for the root key, kept offline (not the key folder)", required: true),
            Text("--dir", "key folder (default keys)"),
            Text("--days", "signing key validity in days (default 365)")));
        keys.Subcommands.Add(Make("rotate", "Certify a new signing key with the root key and retire the old one.",
            KeysCommand.Rotate,
            Text("--root-key", "the root key file (root.key)", required: true),
            Text("--dir", "key folder (default keys)"),
            Text("--days", "signing key validity in days (default 365)")));
        keys.Subcommands.Add(Make("show", "Key ids, the signing key's certificate and its validity (never a private key).",
            KeysCommand.Show,
            Text("--dir", "key folder (default keys)")));
        root.Subcommands.Add(keys);

        root.Subcommands.Add(Make("conformance", "Regenerate tests/conformance and the device test data.", Program.Conformance,
            Text("--out", "output folder (default tests/conformance)")));
        root.Subcommands.Add(Make("boards", "List and validate the board profiles.", Program.Boards));
        return root;
    }

    private static Command Make(string name, string description, Func<Options, int> run, params Symbol[] symbols)
    {
        var c = new Command(name, description);
        foreach (Symbol s in symbols)
        {
            switch (s)
            {
                case Option o:
                    c.Options.Add(o);
                    break;
                case Argument a:
                    c.Arguments.Add(a);
                    break;
            }
        }

        c.SetAction(parsed => run(Options.From(parsed)));
        return c;
    }

    // What a node's provisioning file says about its network: the same options wherever a node.cfg is written.
    private static Symbol[] NodeNetwork() =>
    [
        Text("--wifi-ssid", "Wi-Fi network", required: true),
        Text("--wifi-password", "Wi-Fi password"),
        Text("--mqtt-host", "gateway (broker) host name or address", required: true),
        Text("--mqtt-port", "broker port (default 8883)"),
        Text("--mqtt-tls", "true or false (default true)"),
        Text("--ca", "CA certificate file name on the node, the broker's TLS pin (default ca.pem)"),
        Text("--sntp", "time server (default pool.ntp.org)"),
    ];

    private static Argument<string> Id() => new("id") { Description = "gateway id: 1-64 letters, digits, '-', '_' or '.'" };

    private static Option<string> Text(string name, string description, bool required = false) =>
        new(name) { Description = description, Required = required };

    private static Option<bool> Flag(string name, string description) => new(name) { Description = description, Arity = ArgumentArity.Zero };

    private static Option<string> Choice(string name, string description, params string[] values)
    {
        var o = new Option<string>(name) { Description = description };
        o.AcceptOnlyFromAmong(values);
        return o;
    }

    private static Option<int> Count(string name, string description, int min = 1)
    {
        return new Option<int>(name)
        {
            Description = description,
            CustomParser = r =>
            {
                string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min)
                {
                    return v;
                }

                r.AddError($"{name} takes a whole number of at least {min.ToString(CultureInfo.InvariantCulture)}, not '{text}'");
                return 0;
            },
        };
    }

    private static Option<double> Number(string name, string description)
    {
        return new Option<double>(name)
        {
            Description = description,
            CustomParser = r =>
            {
                string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v))
                {
                    return v;
                }

                r.AddError($"{name} takes a positive number, not '{text}'");
                return 0;
            },
        };
    }
}
