using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using System.Data;
using System.Data.Common;
using TinyMlops.Contracts;
using TinyMlops.Releases;

namespace TinyMlops.Registry;

/// <summary>One registered model version with its lineage.</summary>
/// <param name="Version">Registry id, <c>{board}-{number}</c>.</param>
/// <param name="Board">Board profile it was trained for.</param>
/// <param name="BoardClass">The model header's board class.</param>
/// <param name="Number">Counter within the board, from 1.</param>
/// <param name="DatasetHash">SHA-256 of the training data (the model card's).</param>
/// <param name="CodeVersion">Code version that trained it.</param>
/// <param name="Parent">The board class's champion when it was registered (null for the first).</param>
/// <param name="Registered">When.</param>
/// <param name="Artifacts">Its files, each with size and SHA-256.</param>
public sealed record RegisteredModel(string Version, string Board, int BoardClass, int Number, string DatasetHash, string CodeVersion, string? Parent,
    DateTimeOffset Registered, IReadOnlyList<ReleaseArtifact> Artifacts);

/// <summary>A provisioned node: its board, gateway and site, and which identity (a digest of its update key, never the key) it was given.</summary>
public sealed record RegisteredNode(string Id, string Board, int BoardClass, string? Gateway, string? Site, string KeyId, DateTimeOffset Registered);

/// <summary>A registered node and its state in the newest rollout that names it.</summary>
public sealed record NodeStatus(RegisteredNode Node, string? Rollout);

/// <summary>A board class's champion release as a new node gets it: sequence, version, golden inputs and the node model.</summary>
public sealed record ChampionRelease(long Sequence, string Version, float[] GoldenInputs, byte[] Detector);

/// <summary>Where an alias (<c>champion</c>, <c>canary</c>) of a board class points, since when and why.</summary>
public sealed record ModelAlias(int BoardClass, string Alias, string Version, DateTimeOffset SetAt, string Reason);

/// <summary>A signed release as the registry keeps it.</summary>
/// <param name="ForcedReason">Why it was released although its figures fell below the champion's (null when they did not).</param>
/// <param name="Document">The <see cref="SignedRelease"/> JSON gateways fetch.</param>
public sealed record StoredRelease(int BoardClass, long Sequence, string Version, DateTimeOffset Created, string? ForcedReason, byte[] Document);

/// <summary>A release without its document: what listings show.</summary>
public sealed record ReleaseSummary(int BoardClass, long Sequence, string Version, DateTimeOffset Created, string? ForcedReason)
{
    /// <summary>The summary of <paramref name="r"/>.</summary>
    public static ReleaseSummary Of(StoredRelease r) => new(r.BoardClass, r.Sequence, r.Version, r.Created, r.ForcedReason);
}

/// <summary>What <c>tinymlops models</c> lists: versions, where the aliases point, releases, and the aliases' history.</summary>
public sealed record ModelsView(IReadOnlyList<RegisteredModel> Models, IReadOnlyList<ModelAlias> Aliases, IReadOnlyList<ReleaseSummary> Releases, IReadOnlyList<ModelAlias> History);

/// <summary>
/// The trainer's registry: model versions with their lineage (training data, code, parent, model card, board class),
/// their artifacts by SHA-256, aliases per board class, the evaluation figures each version scored on an evaluation
/// set, the signed releases with their per-board-class sequence, and which board classes each gateway serves. All in
/// one database, artifacts included (models are kilobytes): by default SQLite in a folder, so a copy of the file is a
/// copy of the registry; or PostgreSQL, for several trainer instances behind one database. Thread-safe; several
/// processes may share the store (SQLite: WAL and a busy timeout; either: every write transaction takes the store's
/// writer lock first, so sequences are allocated once).
/// </summary>
public sealed class ModelRegistry : IDisposable
{
    /// <summary>The database's file name in the registry folder.</summary>
    public const string DatabaseFile = "registry.db";

    /// <summary>The alias of the version a board class runs.</summary>
    public const string Champion = "champion";

    /// <summary>The alias of the version being rolled out.</summary>
    public const string Canary = "canary";

    /// <summary>The files a model folder (from <c>tinymlops train</c>) gives the registry, with their roles; the first three are required.</summary>
    public static readonly IReadOnlyList<(string Name, string Role)> ModelFiles =
    [
        ("detector.tmlm", "detector"), ("verifier.onnx", "verifier"), ("model-card.json", "card"), ("verifier-int8.onnx", "verifier-int8"), ("model-card.md", "card-text"),
    ];

    private const int RequiredFiles = 3;
    private readonly RegistryStore _store;
    private readonly DbConnection _db;
    private readonly object _gate = new();

    private ModelRegistry(RegistryStore store, DbConnection db)
    {
        _store = store;
        _db = db;
    }

    /// <summary>Where the registry is: its folder, or its PostgreSQL server and database.</summary>
    public string Location => _store.Location;

    /// <summary>
    /// Opens (creating when absent) the registry at <paramref name="location"/>: a folder (SQLite, the default) or a
    /// PostgreSQL connection string or URL (the shared store several trainer instances use). A store that is not a
    /// registry is an <see cref="InvalidDataException"/> naming it.
    /// </summary>
    public static ModelRegistry Open(string location)
    {
        RegistryStore store = RegistryStore.For(location);
        return new ModelRegistry(store, store.Open());
    }

    /// <summary>
    /// Registers the model folder <paramref name="modelDirectory"/> (detector.tmlm, verifier.onnx, model-card.json,
    /// and verifier-int8.onnx and model-card.md when present) as the board's next version, its parent the board
    /// class's current champion.
    /// </summary>
    public RegisteredModel Register(string modelDirectory)
    {
        var files = new List<(string Name, string Role, byte[] Content)>();
        for (int i = 0; i < ModelFiles.Count; i++)
        {
            string path = Path.Combine(modelDirectory, ModelFiles[i].Name);
            if (File.Exists(path))
            {
                files.Add((ModelFiles[i].Name, ModelFiles[i].Role, File.ReadAllBytes(path)));
            }
            else if (i < RequiredFiles)
            {
                throw new FileNotFoundException($"{path} not found: a model folder is what `tinymlops train` writes", path);
            }
        }

        (string board, int boardClass, string datasetHash, string codeVersion) = ReadCard(files.First(f => f.Role == "card").Content, modelDirectory);
        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            int number = Convert.ToInt32(Scalar(t, "SELECT COALESCE(MAX(number), 0) + 1 FROM models WHERE board = @b;", ("@b", board)), CultureInfo.InvariantCulture);
            string version = $"{board}-{number}";
            string? parent = AliasOf(t, boardClass, Champion);
            DateTimeOffset now = DateTimeOffset.UtcNow;
            Execute(t, "INSERT INTO models VALUES (@v, @b, @c, @n, @d, @code, @p, @r);",
                ("@v", version), ("@b", board), ("@c", boardClass), ("@n", number), ("@d", datasetHash), ("@code", codeVersion), ("@p", parent), ("@r", Stamp(now)));
            var artifacts = new List<ReleaseArtifact>();
            foreach ((string name, string role, byte[] content) in files)
            {
                string sha = Convert.ToHexStringLower(SHA256.HashData(content));
                Execute(t, "INSERT INTO blobs VALUES (@s, @c) ON CONFLICT DO NOTHING;", ("@s", sha), ("@c", content));
                Execute(t, "INSERT INTO model_artifacts VALUES (@v, @n, @r, @z, @s);", ("@v", version), ("@n", name), ("@r", role), ("@z", content.LongLength), ("@s", sha));
                artifacts.Add(new ReleaseArtifact(name, role, content.LongLength, sha));
            }

            t.Commit();
            return new RegisteredModel(version, board, boardClass, number, datasetHash, codeVersion, parent, now, artifacts);
        }
    }

    /// <summary>Versions (of <paramref name="boardClass"/> when given) with their aliases, releases and alias history.</summary>
    public ModelsView View(int? boardClass)
    {
        IReadOnlyList<RegisteredModel> models = Models(boardClass);
        return new ModelsView(models, Aliases(boardClass), Releases(models.Select(m => m.BoardClass).Distinct().ToArray()).Select(ReleaseSummary.Of).ToList(), AliasHistory(boardClass));
    }

    /// <summary>The version named <paramref name="version"/>, or null.</summary>
    public RegisteredModel? Find(string version) => Models(null).FirstOrDefault(m => m.Version == version);

    /// <summary>Every version (of <paramref name="boardClass"/> when given), oldest first.</summary>
    public IReadOnlyList<RegisteredModel> Models(int? boardClass)
    {
        lock (_gate)
        {
            ILookup<string, ReleaseArtifact> artifacts = Rows($"SELECT version, name, role, size, sha256 FROM model_artifacts ORDER BY {_store.InsertionOrder};",
                r => (Version: r.GetString(0), Artifact: new ReleaseArtifact(r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4))))
                .ToLookup(a => a.Version, a => a.Artifact, StringComparer.Ordinal);
            return Rows("SELECT version, board, board_class, number, dataset_hash, code_version, parent, registered FROM models WHERE @any = 1 OR board_class = @c ORDER BY registered, board, number;",
                m => new RegisteredModel(m.GetString(0), m.GetString(1), m.GetInt32(2), m.GetInt32(3), m.GetString(4), m.GetString(5), m.IsDBNull(6) ? null : m.GetString(6),
                    ParseStamp(m.GetString(7)), artifacts[m.GetString(0)].ToArray()), AnyOr(boardClass), ("@c", boardClass ?? 0));
        }
    }

    /// <summary>The version <paramref name="alias"/> of <paramref name="boardClass"/> points to, or null.</summary>
    public string? AliasOf(int boardClass, string alias)
    {
        lock (_gate)
        {
            return AliasOf(null, boardClass, alias);
        }
    }

    /// <summary>Every alias (of <paramref name="boardClass"/> when given).</summary>
    public IReadOnlyList<ModelAlias> Aliases(int? boardClass) => ReadAliases("aliases", boardClass);

    /// <summary>Every alias change, oldest first: the lineage of what ran where.</summary>
    public IReadOnlyList<ModelAlias> AliasHistory(int? boardClass) => ReadAliases("alias_history", boardClass);

    /// <summary>Points <paramref name="alias"/> of the version's board class at <paramref name="version"/>, recording <paramref name="reason"/>.</summary>
    public void SetAlias(string version, string alias, string reason)
    {
        if (alias is not (Champion or Canary))
        {
            throw new ArgumentException($"alias '{alias}' is not {Champion} or {Canary}", nameof(alias));
        }

        RegisteredModel m = Find(version) ?? throw new ArgumentException($"no version '{version}' in the registry", nameof(version));
        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            SetAlias(t, m.BoardClass, version, alias, reason);
            t.Commit();
        }
    }

    private void SetAlias(DbTransaction t, int boardClass, string version, string alias, string reason)
    {
        string now = Stamp(DateTimeOffset.UtcNow);
        Execute(t, "INSERT INTO aliases VALUES (@c, @a, @v, @t, @r) ON CONFLICT (board_class, alias) DO UPDATE SET version = @v, set_at = @t, reason = @r;",
            ("@c", boardClass), ("@a", alias), ("@v", version), ("@t", now), ("@r", reason));
        Execute(t, "INSERT INTO alias_history VALUES (@c, @a, @v, @t, @r);", ("@c", boardClass), ("@a", alias), ("@v", version), ("@t", now), ("@r", reason));
    }

    /// <summary>The figures (JSON) <paramref name="version"/> scored on the evaluation set with hash <paramref name="datasetHash"/>, or null.</summary>
    public string? Evaluation(string version, string datasetHash)
    {
        lock (_gate)
        {
            return (string?)Scalar(null, "SELECT figures FROM evaluations WHERE version = @v AND dataset_hash = @d;", ("@v", version), ("@d", datasetHash));
        }
    }

    /// <summary>Records what <paramref name="version"/> scored on the evaluation set <paramref name="datasetHash"/>.</summary>
    public void RecordEvaluation(string version, string datasetHash, string figuresJson)
    {
        lock (_gate)
        {
            Execute(null, "INSERT INTO evaluations VALUES (@v, @d, @f) ON CONFLICT (version, dataset_hash) DO UPDATE SET figures = @f;", ("@v", version), ("@d", datasetHash), ("@f", figuresJson));
        }
    }

    /// <summary>
    /// Publishes a release of <paramref name="version"/>: allocates the board class's next sequence, has
    /// <paramref name="sign"/> sign the manifest for it, and stores the document, all in one transaction (two
    /// trainers releasing at once get different sequences).
    /// </summary>
    public StoredRelease Publish(string version, Func<long, SignedRelease> sign, string? forcedReason)
    {
        RegisteredModel m = Find(version) ?? throw new ArgumentException($"no version '{version}' in the registry", nameof(version));
        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            long sequence = Convert.ToInt64(Scalar(t, "SELECT COALESCE(MAX(sequence), 0) + 1 FROM releases WHERE board_class = @c;", ("@c", m.BoardClass)), CultureInfo.InvariantCulture);
            byte[] document = sign(sequence).ToJson();
            DateTimeOffset now = DateTimeOffset.UtcNow;
            Execute(t, "INSERT INTO releases VALUES (@c, @s, @v, @t, @f, @d);", ("@c", m.BoardClass), ("@s", sequence), ("@v", version), ("@t", Stamp(now)), ("@f", forcedReason), ("@d", document));
            foreach (ReleaseArtifact a in m.Artifacts)
            {
                Execute(t, "INSERT INTO release_artifacts VALUES (@c, @s, @h) ON CONFLICT DO NOTHING;", ("@c", m.BoardClass), ("@s", sequence), ("@h", a.Sha256));
            }

            t.Commit();
            return new StoredRelease(m.BoardClass, sequence, version, now, forcedReason, document);
        }
    }

    /// <summary>
    /// Publishes gateway application <paramref name="appVersion"/> for <paramref name="runtime"/>: stores
    /// <paramref name="bundle"/> and has <paramref name="sign"/> sign the manifest for the channel's next sequence
    /// (given the bundle's artifact), in one transaction.
    /// </summary>
    public StoredRelease PublishApp(string runtime, string appVersion, byte[] bundle, Func<long, ReleaseArtifact, SignedRelease> sign)
    {
        int channel = GatewayAppChannels.Of(runtime);
        string sha = Convert.ToHexStringLower(SHA256.HashData(bundle));
        var artifact = new ReleaseArtifact($"tinymlops-gateway-{appVersion}-{runtime}.tar.gz", "gateway-app", bundle.LongLength, sha);
        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            long sequence = Convert.ToInt64(Scalar(t, "SELECT COALESCE(MAX(sequence), 0) + 1 FROM releases WHERE board_class = @c;", ("@c", channel)), CultureInfo.InvariantCulture);
            byte[] document = sign(sequence, artifact).ToJson();
            DateTimeOffset now = DateTimeOffset.UtcNow;
            string version = $"gateway-app {appVersion}";
            Execute(t, "INSERT INTO blobs VALUES (@s, @c) ON CONFLICT DO NOTHING;", ("@s", sha), ("@c", bundle));
            Execute(t, "INSERT INTO releases VALUES (@c, @s, @v, @t, NULL, @d);", ("@c", channel), ("@s", sequence), ("@v", version), ("@t", Stamp(now)), ("@d", document));
            Execute(t, "INSERT INTO release_artifacts VALUES (@c, @s, @h) ON CONFLICT DO NOTHING;", ("@c", channel), ("@s", sequence), ("@h", sha));
            t.Commit();
            return new StoredRelease(channel, sequence, version, now, null, document);
        }
    }

    /// <summary>Releases of <paramref name="boardClasses"/> above <paramref name="after"/>, in sequence order.</summary>
    public IReadOnlyList<StoredRelease> Releases(IReadOnlyCollection<int> boardClasses, long after = 0)
    {
        lock (_gate)
        {
            return Rows("SELECT board_class, sequence, version, created, forced_reason, document FROM releases WHERE sequence > @a ORDER BY board_class, sequence;", ReadRelease, ("@a", after))
                .Where(r => boardClasses.Contains(r.BoardClass)).ToList();
        }
    }

    /// <summary>The newest release of each of <paramref name="boardClasses"/> that has one.</summary>
    public IReadOnlyList<StoredRelease> LatestReleases(IReadOnlyCollection<int> boardClasses)
    {
        // Asked twice a second by each long-polling gateway: only the newest row of each class is read.
        lock (_gate)
        {
            return Rows("SELECT board_class, MAX(sequence) FROM releases GROUP BY board_class;", r => (Class: r.GetInt32(0), Sequence: r.GetInt64(1)))
                .Where(x => boardClasses.Contains(x.Class)).Select(x => Release(x.Class, x.Sequence)!).ToList();
        }
    }

    /// <summary>Release <paramref name="sequence"/> of <paramref name="boardClass"/>, or null.</summary>
    public StoredRelease? Release(int boardClass, long sequence)
    {
        lock (_gate)
        {
            return Rows("SELECT board_class, sequence, version, created, forced_reason, document FROM releases WHERE board_class = @c AND sequence = @s;", ReadRelease, ("@c", boardClass), ("@s", sequence))
                .SingleOrDefault();
        }
    }

    /// <summary>True when a release of one of <paramref name="boardClasses"/> carries the artifact <paramref name="sha256"/>.</summary>
    public bool IsReleased(string sha256, IReadOnlyCollection<int> boardClasses)
    {
        lock (_gate)
        {
            return Rows("SELECT DISTINCT board_class FROM release_artifacts WHERE sha256 = @h;", r => r.GetInt32(0), ("@h", sha256)).Any(boardClasses.Contains);
        }
    }

    /// <summary>The content of the artifact with SHA-256 <paramref name="sha256"/> (lower-case hex), or null.</summary>
    public byte[]? Artifact(string sha256)
    {
        lock (_gate)
        {
            return (byte[]?)Scalar(null, "SELECT content FROM blobs WHERE sha256 = @s;", ("@s", sha256));
        }
    }

    /// <summary>Writes the files of <paramref name="version"/> into <paramref name="directory"/> (a model folder again).</summary>
    public void Export(string version, string directory)
    {
        RegisteredModel m = Find(version) ?? throw new ArgumentException($"no version '{version}' in the registry", nameof(version));
        System.IO.Directory.CreateDirectory(directory);
        foreach (ReleaseArtifact a in m.Artifacts)
        {
            byte[] content = Artifact(a.Sha256) ?? throw new InvalidDataException($"the registry lost {a.Name} of {version}");
            if (Convert.ToHexStringLower(SHA256.HashData(content)) != a.Sha256)
            {
                throw new InvalidDataException($"{a.Name} of {version} no longer matches its SHA-256: the registry is corrupt");
            }

            File.WriteAllBytes(Path.Combine(directory, a.Name), content);
        }
    }

    /// <summary>Records a step gateway <paramref name="gatewayId"/> reports of installing a release.</summary>
    public void RecordStatus(string gatewayId, ReleaseStatusReport report)
    {
        lock (_gate)
        {
            Execute(null, "INSERT INTO release_status VALUES (@g, @c, @s, @t, @d, @a);",
                ("@g", gatewayId), ("@c", report.BoardClass), ("@s", report.Sequence), ("@t", report.Step), ("@d", report.Detail), ("@a", Stamp(DateTimeOffset.UtcNow)));
        }
    }

    /// <summary>Every step gateways reported of release <paramref name="sequence"/> of <paramref name="boardClass"/>, oldest first.</summary>
    public IReadOnlyList<(string Gateway, string Step, string Detail, DateTimeOffset At)> StatusOf(int boardClass, long sequence)
    {
        lock (_gate)
        {
            return Rows($"SELECT gateway, step, detail, at FROM release_status WHERE board_class = @c AND sequence = @s ORDER BY {_store.InsertionOrder};",
                r => (r.GetString(0), r.GetString(1), r.GetString(2), ParseStamp(r.GetString(3))), ("@c", boardClass), ("@s", sequence));
        }
    }

    /// <summary>
    /// Starts a staged rollout of release <paramref name="sequence"/> of <paramref name="boardClass"/> over
    /// <paramref name="groups"/> (see <see cref="RolloutPlan.ParseGroups"/>); refuses while another rollout of the
    /// board class runs or is paused.
    /// </summary>
    public Rollout StartRollout(int boardClass, long sequence, IReadOnlyList<string> groups, double successThreshold, double abortFailureRate)
    {
        if (successThreshold is not (> 0 and <= 1) || abortFailureRate is not (>= 0 and <= 1))
        {
            throw new ArgumentException("the success threshold is a share in (0, 1] and the abort failure rate one in [0, 1]");
        }

        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            string? version = (string?)Scalar(t, "SELECT version FROM releases WHERE board_class = @c AND sequence = @s;", ("@c", boardClass), ("@s", sequence))
                ?? throw new ArgumentException($"there is no release {sequence} of board class {boardClass}");
            if (Scalar(t, "SELECT id FROM rollouts WHERE board_class = @c AND state IN ('running', 'paused');", ("@c", boardClass)) is { } open)
            {
                throw new InvalidOperationException($"rollout {open} of board class {boardClass} is still open: abort it or let it complete first");
            }

            string now = Stamp(DateTimeOffset.UtcNow);
            long id = Convert.ToInt64(Scalar(t, "INSERT INTO rollouts (board_class, sequence, version, groups, success_threshold, abort_failure_rate, state, current_group, created, updated, reason) VALUES (@c, @s, @v, @g, @ok, @ab, 'running', 0, @t, @t, 'started') RETURNING id;",
                ("@c", boardClass), ("@s", sequence), ("@v", version), ("@g", string.Join(",", groups)), ("@ok", successThreshold), ("@ab", abortFailureRate), ("@t", now)), CultureInfo.InvariantCulture);
            t.Commit();
            return Rollouts(null).Single(r => r.Id == id);
        }
    }

    /// <summary>Every rollout (of <paramref name="boardClass"/> when given), newest first.</summary>
    public IReadOnlyList<Rollout> Rollouts(int? boardClass)
    {
        lock (_gate)
        {
            return ReadRollouts(null, boardClass);
        }
    }

    private List<Rollout> ReadRollouts(DbTransaction? t, int? boardClass) =>
            Rows(t, "SELECT id, board_class, sequence, version, groups, success_threshold, abort_failure_rate, state, current_group, created, updated, reason FROM rollouts WHERE @any = 1 OR board_class = @c ORDER BY id DESC;",
                r => new Rollout(r.GetInt64(0), r.GetInt32(1), r.GetInt64(2), r.GetString(3), r.GetString(4).Split(','), r.GetDouble(5), r.GetDouble(6), r.GetString(7), r.GetInt32(8),
                    ParseStamp(r.GetString(9)), ParseStamp(r.GetString(10)), r.GetString(11)), AnyOr(boardClass), ("@c", boardClass ?? 0));

    /// <summary>Pauses, resumes or aborts rollout <paramref name="id"/>, recording <paramref name="reason"/>.</summary>
    public Rollout SetRolloutState(long id, string state, string reason)
    {
        Rollout r = Rollouts(null).FirstOrDefault(x => x.Id == id) ?? throw new ArgumentException($"no rollout {id}");
        bool allowed = (r.State, state) is ("running", "paused") or ("paused", "running") or ("running" or "paused", "aborted");
        if (!allowed)
        {
            throw new InvalidOperationException($"rollout {id} is {r.State}: it cannot become {state}");
        }

        lock (_gate)
        {
            Execute(null, "UPDATE rollouts SET state = @s, reason = @r, updated = @t WHERE id = @i;", ("@s", state), ("@r", reason), ("@t", Stamp(DateTimeOffset.UtcNow)), ("@i", id));
        }

        return Rollouts(null).Single(x => x.Id == id);
    }

    /// <summary>The nodes of rollout <paramref name="id"/> in rollout order, with their groups.</summary>
    public IReadOnlyList<RolloutNode> RolloutNodes(long id)
    {
        Rollout r = Rollouts(null).FirstOrDefault(x => x.Id == id) ?? throw new ArgumentException($"no rollout {id}");
        lock (_gate)
        {
            return NodesOf(null, r);
        }
    }

    /// <summary>
    /// Takes gateway <paramref name="gatewayId"/>'s report of its nodes for release <paramref name="sequence"/> of
    /// <paramref name="boardClass"/>, moves the newest rollout of that release on (next group when the current one
    /// succeeded, aborted when too many of it failed, completed, with the board class's champion alias moved to the
    /// release, after the last) and answers with which of the gateway's nodes may be updated now. Without a rollout
    /// of the release no node is admitted.
    /// </summary>
    public RolloutAdmission ReportRollout(string gatewayId, int boardClass, long sequence, IReadOnlyList<RolloutNodeReport> nodes)
    {
        Rollout? r = Rollouts(boardClass).FirstOrDefault(x => x.Sequence == sequence);
        if (r == null)
        {
            return new RolloutAdmission(null, "none", []);
        }

        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            string now = Stamp(DateTimeOffset.UtcNow);
            foreach (RolloutNodeReport n in nodes)
            {
                // A finished node stays finished: a late or replayed report cannot reopen it.
                Execute(t, """
                    INSERT INTO rollout_nodes VALUES (@r, @n, @g, @s, @a, @e, @t)
                    ON CONFLICT (rollout, node) DO UPDATE SET gateway = @g, state = CASE WHEN rollout_nodes.state IN ('confirmed', 'failed') THEN rollout_nodes.state ELSE @s END,
                      attempts = @a, last_error = COALESCE(@e, rollout_nodes.last_error), updated = @t;
                    """, ("@r", r.Id), ("@n", n.Node), ("@g", gatewayId), ("@s", n.State), ("@a", n.Attempts), ("@e", n.LastError), ("@t", now));
            }

            r = ReadRollouts(t, boardClass).Single(x => x.Id == r.Id); // re-read inside the transaction: another trainer may have moved it
            while (r.State == "running")
            {
                List<RolloutNode> all = NodesOf(t, r);
                int[] sizes = RolloutPlan.Sizes(r.Groups, all.Count);
                int from = r.CurrentGroup == 0 ? 0 : sizes[r.CurrentGroup - 1];
                List<RolloutNode> group = all.Skip(from).Take(sizes[r.CurrentGroup] - from).ToList();
                int failed = group.Count(n => n.State == "failed"), confirmed = group.Count(n => n.State == "confirmed");
                string? next = null, reason = null;
                int nextGroup = r.CurrentGroup;
                if (group.Count > 0 && failed > r.AbortFailureRate * group.Count)
                {
                    (next, reason) = ("aborted", $"group {r.CurrentGroup + 1}: {failed} of {group.Count} nodes failed, more than {r.AbortFailureRate:P0}");
                }
                else if (all.Count > 0 && group.All(n => RolloutPlan.IsFinished(n.State))) // a group that rounds to no nodes is done at once
                {
                    if (confirmed < r.SuccessThreshold * group.Count)
                    {
                        (next, reason) = ("aborted", $"group {r.CurrentGroup + 1}: {confirmed} of {group.Count} confirmed, below {r.SuccessThreshold:P0}");
                    }
                    else if (r.CurrentGroup == r.Groups.Count - 1)
                    {
                        (next, reason) = ("completed", $"all {all.Count} nodes done, {all.Count(n => n.State == "confirmed")} confirmed");
                    }
                    else
                    {
                        (next, nextGroup, reason) = ("running", r.CurrentGroup + 1, $"group {r.CurrentGroup + 1} done: {confirmed} of {group.Count} confirmed");
                    }
                }

                if (next == null)
                {
                    break;
                }

                Execute(t, "UPDATE rollouts SET state = @s, current_group = @g, reason = @why, updated = @t WHERE id = @i;",
                    ("@s", next), ("@g", nextGroup), ("@why", reason), ("@t", now), ("@i", r.Id));
                if (next == "completed")
                {
                    // In the same transaction: nobody sees a completed rollout whose version is not yet the champion.
                    SetAlias(t, r.BoardClass, r.Version, Champion, $"rollout {r.Id} completed");
                }

                r = r with { State = next, CurrentGroup = nextGroup, Reason = reason! }; // the next group is judged at once: it may be empty
            }

            List<RolloutNode> ordered = NodesOf(t, r);
            int admittedCount = r.State is "running" or "paused" or "completed" ? RolloutPlan.Sizes(r.Groups, ordered.Count)[r.CurrentGroup] : 0;
            if (r.State == "aborted")
            {
                admittedCount = 0;
            }

            string[] admitted = ordered.Take(admittedCount).Where(n => n.Gateway == gatewayId).Select(n => n.Node).ToArray();
            t.Commit();
            return new RolloutAdmission(r.Id, r.State, admitted);
        }
    }

    private List<RolloutNode> NodesOf(DbTransaction? t, Rollout r)
    {
        using DbCommand c = Command(t, "SELECT gateway, node, state, attempts, last_error, updated FROM rollout_nodes WHERE rollout = @r;", [("@r", r.Id)]);
        using DbDataReader rd = c.ExecuteReader();
        var rows = new Dictionary<string, (string Gateway, string State, int Attempts, string? Error, DateTimeOffset At)>(StringComparer.Ordinal);
        while (rd.Read())
        {
            rows[rd.GetString(1)] = (rd.GetString(0), rd.GetString(2), rd.GetInt32(3), rd.IsDBNull(4) ? null : rd.GetString(4), ParseStamp(rd.GetString(5)));
        }

        List<string> order = RolloutPlan.Order(rows.Keys);
        int[] sizes = RolloutPlan.Sizes(r.Groups, order.Count);
        return order.Select((n, i) => new RolloutNode(rows[n].Gateway, n, rows[n].State, rows[n].Attempts, rows[n].Error, rows[n].At, Array.FindIndex(sizes, s => i < s))).ToList();
    }

    /// <summary>Sets the board classes gateway <paramref name="gatewayId"/> serves (it sees only their releases).</summary>
    public void AssignGateway(string gatewayId, IReadOnlyCollection<int> boardClasses)
    {
        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            Execute(t, "DELETE FROM gateway_boards WHERE gateway = @g;", ("@g", gatewayId));
            foreach (int c in boardClasses.Distinct())
            {
                Execute(t, "INSERT INTO gateway_boards VALUES (@g, @c);", ("@g", gatewayId), ("@c", c));
            }

            t.Commit();
        }
    }

    /// <summary>The board classes gateway <paramref name="gatewayId"/> serves (none until assigned).</summary>
    public IReadOnlyCollection<int> BoardClassesOf(string gatewayId)
    {
        lock (_gate)
        {
            return Rows("SELECT board_class FROM gateway_boards WHERE gateway = @g ORDER BY board_class;", r => r.GetInt32(0), ("@g", gatewayId));
        }
    }

    /// <summary>
    /// Registers a provisioned node, so rollouts and <c>tinymlops nodes</c> know it. Registering the same node again
    /// with the same identity (<see cref="RegisteredNode.KeyId"/>, board and gateway) is a no-op, so a flash that was
    /// cut after this step can be run again; any other registration of a known id is refused.
    /// </summary>
    public RegisteredNode RegisterNode(string id, string board, int boardClass, string? gateway, string? site, string keyId)
    {
        if (!RecordNames.IsValidId(id) || !RecordNames.IsValidId(board) || (gateway != null && !RecordNames.IsValidId(gateway)) || (site?.Length ?? 0) > 200 || keyId.Length is 0 or > 64)
        {
            throw new ArgumentException($"node '{id}' on board '{board}' (gateway '{gateway}', site '{site}') is not a valid registration");
        }

        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            RegisteredNode? known = ReadNodes(t, id).FirstOrDefault();
            if (known != null)
            {
                if (known.KeyId == keyId && known.Board == board && known.Gateway == gateway)
                {
                    return known;
                }

                throw new InvalidOperationException($"node {id} is already registered ({known.Board}, gateway {known.Gateway ?? "-"}, since {known.Registered:yyyy-MM-dd HH:mm}); revoke it first ('tinymlops nodes revoke {id}')");
            }

            Execute(t, "INSERT INTO nodes VALUES (@i, @b, @c, @g, @s, @k, @t);", ("@i", id), ("@b", board), ("@c", boardClass), ("@g", gateway), ("@s", site), ("@k", keyId), ("@t", Stamp(DateTimeOffset.UtcNow)));
            t.Commit();
            return ReadNodes(null, id).Single();
        }
    }

    /// <summary>Registered nodes, by id, or the one node <paramref name="id"/>.</summary>
    public IReadOnlyList<RegisteredNode> Nodes(string? id = null)
    {
        lock (_gate)
        {
            return ReadNodes(null, id);
        }
    }

    /// <summary>Removes node <paramref name="id"/>'s registration; false when there was none.</summary>
    public bool RemoveNode(string id)
    {
        lock (_gate)
        {
            using DbTransaction t = BeginWrite();
            bool known = ReadNodes(t, id).Count > 0;
            Execute(t, "DELETE FROM nodes WHERE id = @i;", ("@i", id));
            t.Commit();
            return known;
        }
    }

    /// <summary>Every registered node with its state in the newest rollout that names it (null when none has).</summary>
    public IReadOnlyList<NodeStatus> NodeStatuses()
    {
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Rollout r in Rollouts(null).OrderBy(r => r.Id))
        {
            List<RolloutNode> nodes;
            lock (_gate)
            {
                nodes = NodesOf(null, r); // the rollout is in hand: RolloutNodes(id) would read every rollout again
            }

            foreach (RolloutNode n in nodes)
            {
                states[n.Node] = $"release {r.Sequence}: {n.State}{(n.LastError != null ? $" ({n.LastError})" : "")}";
            }
        }

        return Nodes().Select(n => new NodeStatus(n, states.GetValueOrDefault(n.Id))).ToList();
    }

    /// <summary>
    /// What a new node of <paramref name="boardClass"/> starts with: the newest release of the version the class's
    /// champion alias names, with its node model (digest-checked against the manifest); null without a champion.
    /// </summary>
    public ChampionRelease? ChampionFor(int boardClass)
    {
        if (AliasOf(boardClass, Champion) is not { } version)
        {
            return null;
        }

        StoredRelease release = Releases([boardClass]).Where(r => r.Version == version).MaxBy(r => r.Sequence)
            ?? throw new InvalidDataException($"the champion of board class {boardClass}, {version}, has no release in {Location}");
        ReleaseManifest manifest = JsonSerializer.Deserialize<ReleaseManifest>(SignedRelease.Parse(release.Document).Manifest.Payload)
            ?? throw new InvalidDataException($"release {release.Sequence} in {Location} holds no manifest");
        ReleaseArtifact artifact = manifest.Artifacts.FirstOrDefault(x => x.Role == "detector")
            ?? throw new InvalidDataException($"release {release.Sequence} ({version}) carries no node model");
        byte[] blob = Artifact(artifact.Sha256) ?? throw new InvalidDataException($"the registry lost {artifact.Name} of release {release.Sequence}");
        ReleaseVerifier.CheckArtifact(artifact, new MemoryStream(blob));
        return new ChampionRelease(release.Sequence, version, manifest.GoldenInputs, blob);
    }

    private List<RegisteredNode> ReadNodes(DbTransaction? t, string? id) =>
        Rows(t, "SELECT id, board, board_class, gateway, site, key_id, registered FROM nodes WHERE @all = 1 OR id = @i ORDER BY id;",
            r => new RegisteredNode(r.GetString(0), r.GetString(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetString(5), ParseStamp(r.GetString(6))),
            ("@all", id == null ? 1 : 0), ("@i", id ?? ""));

    /// <summary>A registry setting, or null.</summary>
    public string? Setting(string key)
    {
        lock (_gate)
        {
            return (string?)Scalar(null, "SELECT value FROM settings WHERE key = @k;", ("@k", key));
        }
    }

    /// <summary>Sets a registry setting.</summary>
    public void SetSetting(string key, string value)
    {
        lock (_gate)
        {
            Execute(null, "INSERT INTO settings VALUES (@k, @v) ON CONFLICT (key) DO UPDATE SET value = @v;", ("@k", key), ("@v", value));
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _db.Dispose();

    private static (string Board, int BoardClass, string DatasetHash, string CodeVersion) ReadCard(byte[] card, string modelDirectory)
    {
        try
        {
            using JsonDocument d = JsonDocument.Parse(card);
            JsonElement r = d.RootElement;
            string board = r.GetProperty("board").GetString() ?? "";
            if (!RecordNames.IsValidId(board))
            {
                throw new InvalidDataException($"model-card.json in {modelDirectory} names board '{board}', not a valid id");
            }

            return (board, r.GetProperty("boardClass").GetInt32(), r.GetProperty("dataset").GetProperty("contentHash").GetString() ?? "", r.GetProperty("codeVersion").GetString() ?? "");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"model-card.json in {modelDirectory} is not a model card: {e.Message}", e);
        }
    }

    private IReadOnlyList<ModelAlias> ReadAliases(string table, int? boardClass)
    {
        lock (_gate)
        {
            return Rows($"SELECT board_class, alias, version, set_at, reason FROM {table} WHERE @any = 1 OR board_class = @c ORDER BY {_store.InsertionOrder};",
                r => new ModelAlias(r.GetInt32(0), r.GetString(1), r.GetString(2), ParseStamp(r.GetString(3)), r.GetString(4)), AnyOr(boardClass), ("@c", boardClass ?? 0));
        }
    }

    private string? AliasOf(DbTransaction? t, int boardClass, string alias) =>
        (string?)Scalar(t, "SELECT version FROM aliases WHERE board_class = @c AND alias = @a;", ("@c", boardClass), ("@a", alias));

    // "Every board class" without a null parameter, whose type PostgreSQL could not tell.
    private static (string, object?) AnyOr(int? boardClass) => ("@any", boardClass == null ? 1 : 0);

    private DbTransaction BeginWrite()
    {
        EnsureOpen();
        return _store.BeginWrite(_db);
    }

    // A server restarted under a long-lived trainer: the next call connects again rather than failing for good.
    private void EnsureOpen()
    {
        if (_db.State != ConnectionState.Open)
        {
            _db.Close();
            _db.Open();
        }
    }

    private DbCommand Command(DbTransaction? t, string sql, (string Name, object? Value)[] parameters)
    {
        if (t == null)
        {
            EnsureOpen();
        }

        DbCommand c = _db.CreateCommand();
        c.Transaction = t;
        c.CommandText = sql;
        foreach ((string name, object? value) in parameters)
        {
            DbParameter p = c.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            c.Parameters.Add(p);
        }

        return c;
    }

    private void Execute(DbTransaction? t, string sql, params (string, object?)[] parameters)
    {
        using DbCommand c = Command(t, sql, parameters);
        c.ExecuteNonQuery();
    }

    private object? Scalar(DbTransaction? t, string sql, params (string, object?)[] parameters)
    {
        using DbCommand c = Command(t, sql, parameters);
        object? v = c.ExecuteScalar();
        return v is DBNull ? null : v;
    }

    private List<T> Rows<T>(string sql, Func<DbDataReader, T> row, params (string, object?)[] parameters) => Rows(null, sql, row, parameters);

    private List<T> Rows<T>(DbTransaction? t, string sql, Func<DbDataReader, T> row, params (string, object?)[] parameters)
    {
        using DbCommand c = Command(t, sql, parameters);
        using DbDataReader r = c.ExecuteReader();
        var rows = new List<T>();
        while (r.Read())
        {
            rows.Add(row(r));
        }

        return rows;
    }

    private static StoredRelease ReadRelease(DbDataReader r) =>
        new(r.GetInt32(0), r.GetInt64(1), r.GetString(2), ParseStamp(r.GetString(3)), r.IsDBNull(4) ? null : r.GetString(4), (byte[])r.GetValue(5));

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseStamp(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
}
