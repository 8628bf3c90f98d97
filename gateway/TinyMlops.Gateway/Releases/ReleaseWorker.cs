using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Storage;
using TinyMlops.Gateway.Uplink;
using TinyMlops.Gateway.Verification;
using TinyMlops.Releases;

namespace TinyMlops.Gateway.Releases;

/// <summary>
/// Keeps the gateway's verifier on the newest release of its board class. It long-polls the trainer for a release
/// above the installed one; checks the signature chain and the manifest (<see cref="ReleaseVerifier"/>, against the
/// persisted <see cref="ReleaseState"/>); fetches the artifacts into a staging folder, resumably, each checked against
/// its size and SHA-256 before use; runs the new verifier in shadow on recent stored windows (agreement with the
/// operator's label where there is one, else with the verdict the current verifier gave) and promotes it only when
/// it meets the release's threshold, by renaming it over <see cref="VerifierOptions.ModelFile"/> (the hot swap picks
/// it up), keeping the previous file beside it; and puts the previous one back when the new one has not come up
/// within <see cref="ReleaseOptions.HealthCheckSeconds"/> or, on probation, fails on more live events than the
/// previous one did. Only a release that passed probation goes on to the nodes. Nothing unverified reaches the model
/// file. Each step is logged, counted, and reported to the trainer (<c>POST /api/releases/status</c>). A release refused for good is
/// remembered with its reason and not fetched again; transport failures are retried with back-off.
/// </summary>
public sealed class ReleaseWorker(IOptions<GatewayOptions> options, GatewayStore store, VerifierHost verifiers, NodeUpdateRelay relay, GatewayMetrics metrics, ILogger<ReleaseWorker> log)
    : SupervisedWorker("releases")
{
    private const int MaxDocumentBytes = 1 << 20;
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan }; // long polls: each request has its own deadline
    private ReleaseState _state = new();

    /// <summary>The gateway's version, which a release's minimum gateway version is checked against.</summary>
    public static Version GatewayVersion { get; } = typeof(ReleaseWorker).Assembly.GetName().Version ?? new Version(1, 0, 0);

    /// <summary>What was accepted so far (a snapshot).</summary>
    public ReleaseState State => _state;

    /// <summary>The last step taken, for <c>/health</c>.</summary>
    public string LastStep { get; private set; } = "idle";

    /// <inheritdoc />
    protected override GatewayMetrics FaultMetrics => metrics;

    /// <inheritdoc />
    protected override ILogger FaultLog => log;

    private string Folder => Path.Combine(options.Value.DataDirectory, "releases");

    private string StateFile => Path.Combine(Folder, "state.json");

    /// <summary>Checks for a newer release once and installs it; false when there was none or it has to wait.</summary>
    public async Task<bool> CheckOnceAsync(ReleaseVerifier verifier, double waitSeconds, CancellationToken ct)
    {
        ReleaseOptions o = options.Value.Releases;
        using var poll = CancellationTokenSource.CreateLinkedTokenSource(ct);
        poll.CancelAfter(TimeSpan.FromSeconds(waitSeconds + 30));
        long known = Math.Max(_state.InstalledSequence, _state.Refused.Keys.DefaultIfEmpty(0).Max()); // a refused release is not waited on again
        using HttpRequestMessage m = Request($"api/releases/latest?newerThan={o.BoardClass}:{known}&wait={waitSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        using HttpResponseMessage response = await _http.SendAsync(m, poll.Token).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        using JsonDocument latest = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(poll.Token).ConfigureAwait(false));
        long newest = latest.RootElement.GetProperty("releases").EnumerateArray()
            .Where(r => r.GetProperty("boardClass").GetInt32() == o.BoardClass).Select(r => r.GetProperty("sequence").GetInt64()).DefaultIfEmpty(0).Max();
        if (newest <= _state.InstalledSequence || _state.Refused.ContainsKey(newest))
        {
            return false;
        }

        return await InstallAsync(verifier, newest, ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        ReleaseOptions o = options.Value.Releases;
        if (string.IsNullOrEmpty(o.RootKeyFile))
        {
            log.LogInformation("no Gateway:Releases:RootKeyFile: this gateway takes no releases");
            return;
        }

        ReleaseVerifier verifier = new(ReadRootKey(o.RootKeyFile), o.Vendor, [o.BoardClass], GatewayVersion);
        _state = ReleaseState.Load(StateFile);
        metrics.ReleaseSequence = _state.InstalledSequence;
        if (_state.ProbationVerifierVersion != 0 && ReadKept(verifier) is { } onProbation)
        {
            // Cut off during probation: it starts again (the previous verifier's figures went with the old process).
            await ProbationAsync(onProbation.Manifest, onProbation.Folder, 0, stoppingToken).ConfigureAwait(false);
        }
        else
        {
            ResumeRelay(verifier);
        }

        TimeSpan delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                bool waiting = !await CheckOnceAsync(verifier, o.PollWaitSeconds, stoppingToken).ConfigureAwait(false) && LastStep == "shadow_waiting";
                delay = TimeSpan.FromSeconds(1);
                if (!waiting && o.PollWaitSeconds > 0)
                {
                    continue; // the long poll itself paced this round
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException or KeyNotFoundException or InvalidOperationException
                || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
            {
                metrics.CountReleaseStep("unreachable");
                log.LogWarning("releases: trainer unreachable or answered badly ({Message}); retry in {Delay:F0} s", e.Message, delay.TotalSeconds);
            }

            await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
            delay = TimeSpan.FromSeconds(Math.Min(o.MaxRetrySeconds, delay.TotalSeconds * 2));
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    private async Task<bool> InstallAsync(ReleaseVerifier verifier, long sequence, CancellationToken ct)
    {
        GatewayOptions o = options.Value;
        int boardClass = o.Releases.BoardClass;
        byte[] document = await FetchDocumentAsync($"api/releases/{boardClass}/{sequence}", ct).ConfigureAwait(false);
        await StepAsync(sequence, "fetched", $"{document.Length} B", ct).ConfigureAwait(false);
        VerifiedRelease release;
        string verifierFile;
        string? detectorFile = null;
        try
        {
            release = verifier.Verify(SignedRelease.Parse(document), _state.Trust, DateTimeOffset.UtcNow);
            await StepAsync(sequence, "verified", $"{release.Manifest.ModelVersion}, signed by {release.Key.KeyId} (certificate {release.Key.Sequence})", ct).ConfigureAwait(false);
            ReleaseArtifact onnx = release.Manifest.Artifacts.FirstOrDefault(a => a.Role == "verifier")
                ?? throw new ReleaseException(ReleaseError.Malformed, "the release carries no verifier");
            string staging = Path.Combine(Folder, "staging");
            verifierFile = await ArtifactDownload.FetchAsync(_http, Request, onnx, staging, ct).ConfigureAwait(false);
            if (release.Manifest.Artifacts.FirstOrDefault(a => a.Role == "detector") is { } detector)
            {
                detectorFile = await ArtifactDownload.FetchAsync(_http, Request, detector, staging, ct).ConfigureAwait(false);
            }

            await StepAsync(sequence, "downloaded", string.Join(", ", release.Manifest.Artifacts.Where(a => a.Role is "verifier" or "detector").Select(a => $"{a.Name} {a.Size} B")), ct).ConfigureAwait(false);
        }
        catch (ReleaseException e)
        {
            await RefuseAsync(sequence, e.Error.ToString(), e.Message, ct).ConfigureAwait(false);
            return false;
        }

        if (detectorFile != null && CheckDetector(await File.ReadAllBytesAsync(detectorFile, ct).ConfigureAwait(false), release.Manifest) is { } unusable)
        {
            // Signed is not sound: the nodes would each refuse it one by one, so the gateway refuses it once.
            await RefuseAsync(sequence, "unloadable", unusable, ct).ConfigureAwait(false);
            return false;
        }

        byte[] onnxBytes = await File.ReadAllBytesAsync(verifierFile, ct).ConfigureAwait(false);
        VerifierModel candidate;
        try
        {
            candidate = VerifierModel.Load(onnxBytes, verifierFile);
        }
        catch (InvalidDataException e)
        {
            await RefuseAsync(sequence, "unloadable", "the verifier does not load: " + e.Message, ct).ConfigureAwait(false);
            return false;
        }

        if (verifiers.Current == null && !File.Exists(o.Verifier.ModelFile))
        {
            // A gateway commissioned without a verifier has stored no verdicts to shadow against and has none to lose:
            // the verified release is its first verifier (probation still watches it on live events).
            candidate.Release();
            await StepAsync(sequence, "shadow_skipped", "no verifier installed yet: nothing to compare with", ct).ConfigureAwait(false);
            return await PromoteAsync(sequence, release, onnxBytes, candidate.Version, detectorFile, document, ct).ConfigureAwait(false);
        }

        int windows;
        double agreement;
        string? mismatch;
        try
        {
            (windows, agreement, mismatch) = Shadow(candidate);
        }
        finally
        {
            candidate.Release();
        }

        if (mismatch != null)
        {
            await RefuseAsync(sequence, "incompatible", mismatch, ct).ConfigureAwait(false);
            return false;
        }

        if (windows < o.Releases.MinShadowWindows)
        {
            await StepAsync(sequence, "shadow_waiting", $"{windows} stored windows, {o.Releases.MinShadowWindows} needed", ct).ConfigureAwait(false);
            return false;
        }

        if (agreement < release.Manifest.ShadowAgreement)
        {
            await RefuseAsync(sequence, "shadow", $"agreement {agreement:P1} on {windows} windows is below the release's {release.Manifest.ShadowAgreement:P1}", ct).ConfigureAwait(false);
            return false;
        }

        await StepAsync(sequence, "shadow_passed", $"agreement {agreement:P1} on {windows} windows", ct).ConfigureAwait(false);
        return await PromoteAsync(sequence, release, onnxBytes, candidate.Version, detectorFile, document, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Why the node model <paramref name="blob"/> cannot go to the nodes, or null: it must load in the core, be for the
    /// release's board class, and run the release's golden inputs (exactly what each node's self-test will do).
    /// </summary>
    internal static string? CheckDetector(byte[] blob, ReleaseManifest manifest)
    {
        UpdateManifest described;
        try
        {
            described = UpdateManifest.Describe(blob, (uint)manifest.Sequence, "gateway", manifest.GoldenInputs);
        }
        catch (Exception e) when (e is ModelFormatException or ArgumentException)
        {
            return "the detector does not run its golden inputs in the node's core: " + e.Message;
        }

        return described.BoardClass == ModelFormat.BoardClassAny || described.BoardClass == manifest.BoardClass
            ? null
            : $"the detector is built for board class {described.BoardClass}, the release is for {manifest.BoardClass}";
    }

    private async Task<bool> PromoteAsync(long sequence, VerifiedRelease release, byte[] onnx, long version, string? detectorFile, byte[] document, CancellationToken ct)
    {
        string modelFile = options.Value.Verifier.ModelFile;
        string previous = modelFile + ".previous";
        VerifierModel? before = verifiers.Current;
        if (File.Exists(modelFile))
        {
            File.Copy(modelFile, previous, overwrite: true);
        }

        // Everything the node relay needs goes beside the state before the swap: the document and the detector.
        string kept = Path.Combine(Folder, $"{release.Manifest.BoardClass}-{sequence}");
        Directory.CreateDirectory(kept);
        await File.WriteAllBytesAsync(Path.Combine(kept, "release.json"), document, ct).ConfigureAwait(false);
        if (detectorFile != null)
        {
            File.Copy(detectorFile, Path.Combine(kept, "detector.tmlm"), overwrite: true);
        }

        ReplaceFile(modelFile, onnx);
        _state.PreviousSequence = _state.InstalledSequence;
        _state.PreviousVersion = _state.InstalledVersion;
        _state.InstalledSequence = sequence;
        _state.InstalledVersion = release.Manifest.ModelVersion;
        _state.ProbationVerifierVersion = version;
        _state.HighestKeySequence = Math.Max(_state.HighestKeySequence, release.Key.Sequence);
        _state.Save(StateFile);
        await StepAsync(sequence, "promoted", $"{release.Manifest.ModelVersion} is the verifier (the previous one is kept as {Path.GetFileName(previous)})", ct).ConfigureAwait(false);

        // Health: the hot swap must install it (a new model object of the release's version) within the check time.
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(options.Value.Releases.HealthCheckSeconds);
        while (DateTime.UtcNow < deadline)
        {
            VerifierModel? now = verifiers.Current;
            if (now != null && !ReferenceEquals(now, before) && now.Version == version)
            {
                metrics.ReleaseSequence = sequence;
                await StepAsync(sequence, "running", $"verifier version {version} installed", ct).ConfigureAwait(false);
                return await ProbationAsync(release.Manifest, kept, before == null ? 0 : verifiers.Tally(before.Version).FailureShare, ct).ConfigureAwait(false);
            }

            await Task.Delay(200, ct).ConfigureAwait(false);
        }

        await RollBackAsync(sequence, "the promoted verifier did not come up", $"verifier version {version} did not come up within {options.Value.Releases.HealthCheckSeconds:F0} s", ct).ConfigureAwait(false);
        return false;
    }

    /// <summary>
    /// Watches the promoted verifier on live events: it is rolled back when the share it fails on (errors, non-finite
    /// outputs) rises more than <see cref="ReleaseOptions.MaxFailureIncrease"/> above the previous verifier's
    /// <paramref name="baseline"/>; once <see cref="ReleaseOptions.ProbationEvents"/> events (or the probation time)
    /// have passed without that, the release is healthy and goes on to the nodes.
    /// </summary>
    private async Task<bool> ProbationAsync(ReleaseManifest manifest, string kept, double baseline, CancellationToken ct)
    {
        ReleaseOptions o = options.Value.Releases;
        long version = _state.ProbationVerifierVersion, sequence = manifest.Sequence;
        double allowed = Math.Min(1, baseline + o.MaxFailureIncrease);
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(o.ProbationSeconds);
        VerifierTally t = verifiers.Tally(version);
        while (t.Judged + t.Failed < o.ProbationEvents && t.Failed <= allowed * o.ProbationEvents && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200, ct).ConfigureAwait(false);
            t = verifiers.Tally(version);
        }

        string figures = $"it failed on {t.Failed} of {t.Judged + t.Failed} events ({t.FailureShare:P1}; the previous verifier {baseline:P1}, allowed {allowed:P1})";
        if (t.FailureShare > allowed)
        {
            await RollBackAsync(sequence, "health dropped after promotion", figures, ct).ConfigureAwait(false);
            return false;
        }

        _state.ProbationVerifierVersion = 0;
        _state.Save(StateFile);
        await StepAsync(sequence, "healthy", t.Judged + t.Failed == 0 ? $"no events in {o.ProbationSeconds:F0} s of probation" : figures, ct).ConfigureAwait(false);
        StartRelay(manifest, kept);
        return true;
    }

    /// <summary>Puts the previous verifier and release back and refuses <paramref name="sequence"/> for good.</summary>
    private async Task RollBackAsync(long sequence, string reason, string detail, CancellationToken ct)
    {
        string modelFile = options.Value.Verifier.ModelFile;
        string previous = modelFile + ".previous";
        bool restored = File.Exists(previous);
        if (restored)
        {
            ReplaceFile(modelFile, await File.ReadAllBytesAsync(previous, ct).ConfigureAwait(false));
        }

        _state.InstalledSequence = _state.PreviousSequence;
        _state.InstalledVersion = _state.PreviousVersion;
        _state.ProbationVerifierVersion = 0;
        _state.Refused[sequence] = $"{reason}: {detail}";
        _state.Save(StateFile);
        metrics.ReleaseSequence = _state.InstalledSequence;
        await StepAsync(sequence, "rolled_back", $"{reason}: {detail}; " + (restored ? "the previous verifier is back" : "there was no previous verifier to return to"), ct).ConfigureAwait(false);
    }

    /// <summary>After a restart: the installed release's node relay carries on, once its kept files check out again.</summary>
    private void ResumeRelay(ReleaseVerifier verifier)
    {
        if (ReadKept(verifier) is { } kept)
        {
            StartRelay(kept.Manifest, kept.Folder);
        }
    }

    /// <summary>The installed release's kept manifest, checked again (null when there is none or it does not check out).</summary>
    private (ReleaseManifest Manifest, string Folder)? ReadKept(ReleaseVerifier verifier)
    {
        string kept = Path.Combine(Folder, $"{options.Value.Releases.BoardClass}-{_state.InstalledSequence}");
        string document = Path.Combine(kept, "release.json");
        if (_state.InstalledSequence == 0 || !File.Exists(document))
        {
            return null;
        }

        try
        {
            // Checked again as if it were new (one below the installed sequence): the file on the card may have changed.
            return (verifier.Verify(SignedRelease.Parse(File.ReadAllBytes(document)), new ReleaseTrustState(_state.HighestKeySequence, _state.InstalledSequence - 1), DateTimeOffset.UtcNow).Manifest, kept);
        }
        catch (Exception e) when (e is ReleaseException or IOException)
        {
            log.LogError("release {Sequence}: kept files do not check out ({Message}); its nodes are not updated", _state.InstalledSequence, e.Message);
            return null;
        }
    }

    /// <summary>Hands the release's detector to the node relay (the <see cref="RolloutWorker"/> admits the nodes).</summary>
    private void StartRelay(ReleaseManifest manifest, string kept)
    {
        string detector = Path.Combine(kept, "detector.tmlm");
        if (string.IsNullOrEmpty(options.Value.Releases.NodeKeysFile) || manifest.Artifact("detector.tmlm") is not { } artifact || !File.Exists(detector))
        {
            return;
        }

        try
        {
            using FileStream f = File.OpenRead(detector);
            ReleaseVerifier.CheckArtifact(artifact, f);
        }
        catch (ReleaseException e)
        {
            log.LogError("release {Sequence}: the kept detector does not match its manifest ({Message}); its nodes are not updated", manifest.Sequence, e.Message);
            return;
        }

        relay.Begin(manifest.BoardClass, manifest.Sequence, File.ReadAllBytes(detector), manifest.GoldenInputs, kept);
        log.LogInformation("release {Sequence}: {Detector} ready for this gateway's nodes as the trainer's rollout admits them", manifest.Sequence, artifact.Name);
    }

    /// <summary>
    /// The candidate on recent stored windows: how many it judged, the share where its class is the operator's label
    /// (or, unlabelled, the current verifier's verdict), and why it cannot run them at all (null when it can).
    /// </summary>
    private (int Windows, double Agreement, string? Mismatch) Shadow(VerifierModel candidate)
    {
        var rows = new List<(float[] Features, string Expected)>();
        foreach ((StoredEvent e, StoredVerdict v, string? label) in store.RecentVerified(options.Value.Releases.ShadowWindows))
        {
            try
            {
                if (WireCodec.Decode(e.Frame, 0, e.Frame.Length) is not EventMessage m)
                {
                    continue;
                }

                if (m.Features.Length != candidate.InputLength)
                {
                    return (0, 0, $"the new verifier takes {candidate.InputLength} features, this gateway's nodes send {m.Features.Length}");
                }

                rows.Add((m.Features, label ?? v.Label));
            }
            catch (WireFormatException)
            {
                // A damaged row is the verification worker's to quarantine; the shadow run just skips it.
            }
        }

        if (rows.Count == 0)
        {
            return (0, 0, null);
        }

        float[] features = rows.SelectMany(r => r.Features).ToArray();
        Verification.Verification[] verdicts = candidate.Verify(features, rows.Count);
        int agree = rows.Where((r, i) => string.Equals(verdicts[i].Label, r.Expected, StringComparison.Ordinal)).Count();
        return (rows.Count, agree / (double)rows.Count, null);
    }

    private async Task RefuseAsync(long sequence, string reason, string detail, CancellationToken ct)
    {
        _state.Refused[sequence] = $"{reason}: {detail}";
        _state.Save(StateFile);
        await StepAsync(sequence, "refused", $"{reason}: {detail}", ct).ConfigureAwait(false);
    }

    private async Task StepAsync(long sequence, string step, string detail, CancellationToken ct)
    {
        LastStep = step;
        await RecordStepAsync(_http, options.Value, metrics, log, "release", step, new ReleaseStatusReport(options.Value.Releases.BoardClass, sequence, step, detail), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Counts (as <paramref name="counted"/>), logs and reports one step of installing a release of kind
    /// <paramref name="what"/> to the trainer; a trainer out of reach only costs the report.
    /// </summary>
    internal static async Task RecordStepAsync(HttpClient http, GatewayOptions o, GatewayMetrics metrics, ILogger log, string what, string counted, ReleaseStatusReport report, CancellationToken ct)
    {
        metrics.CountReleaseStep(counted);
        if (report.Step is "refused" or "rolled_back" or "trial_failed")
        {
            log.LogError("{What} {Sequence}: {Step}: {Detail}", what, report.Sequence, report.Step, report.Detail);
        }
        else
        {
            log.LogInformation("{What} {Sequence}: {Step}: {Detail}", what, report.Sequence, report.Step, report.Detail);
        }

        try
        {
            using HttpRequestMessage m = TrainerRequest(o, HttpMethod.Post, "api/releases/status");
            m.Content = JsonContent.Create(report);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(10));
            using HttpResponseMessage r = await http.SendAsync(m, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            log.LogDebug("{What} {Sequence}: step {Step} not reported to the trainer: {Message}", what, report.Sequence, report.Step, e.Message);
        }
    }

    private Task<byte[]> FetchDocumentAsync(string path, CancellationToken ct) => FetchDocumentAsync(_http, Request(path), ct);

    /// <summary>A release document (at most 1 MiB) answered to <paramref name="m"/>, which this disposes.</summary>
    internal static async Task<byte[]> FetchDocumentAsync(HttpClient http, HttpRequestMessage request, CancellationToken ct)
    {
        using HttpRequestMessage m = request;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        using HttpResponseMessage response = await http.SendAsync(m, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        if (response.Content.Headers.ContentLength > MaxDocumentBytes)
        {
            throw new HttpRequestException($"the release document is {response.Content.Headers.ContentLength} B, more than {MaxDocumentBytes} B");
        }

        await using Stream body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await body.ReadAsync(chunk, deadline.Token).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > MaxDocumentBytes)
            {
                throw new HttpRequestException($"the release document runs past {MaxDocumentBytes} B");
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
    }

    private HttpRequestMessage Request(string path) => TrainerRequest(options.Value, HttpMethod.Get, path);

    /// <summary>A request to the trainer at <paramref name="path"/>, with this gateway's credential.</summary>
    internal static HttpRequestMessage TrainerRequest(GatewayOptions o, HttpMethod method, string path)
    {
        var m = new HttpRequestMessage(method, new Uri(new Uri(o.Uplink.TrainerUrl!), path));
        if (UplinkWorker.ReadCredential(o.Uplink.CredentialFile) is { } token)
        {
            m.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayAuth.BearerValue(o.GatewayId, token));
        }

        return m;
    }

    internal static byte[] ReadRootKey(string file)
    {
        try
        {
            using var key = ECDsa.Create();
            key.ImportFromPem(File.ReadAllText(file));
            return key.ExportSubjectPublicKeyInfo();
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            throw new InvalidDataException($"Gateway:Releases:RootKeyFile {file} is not a P-256 public key (root.pub from 'tinymlops keys create'): {e.Message}", e);
        }
    }

    // Write-then-rename: the hot swap sees the old file or the new one, never half of one.
    private static void ReplaceFile(string path, byte[] content)
    {
        string temp = path + ".new";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            f.Write(content);
            f.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
