using System;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Storage;
using TinyMlops.Gateway.Verification;
using TinyMlops.Releases;

namespace TinyMlops.Gateway.Releases;

/// <summary>
/// Keeps the gateway application itself on its newest signed release, the way the service manager expects
/// (<c>deploy/tinymlops-gateway.service</c>). Under <see cref="AppUpdateOptions.InstallRoot"/>:
/// <list type="bullet">
/// <item><c>releases/{version}-{sequence}/</c>: unpacked bundles; <c>current</c>: the link the service starts.</item>
/// <item>Install: the release is verified (<see cref="ReleaseVerifier.VerifyApp"/>), its bundle fetched resumably
/// and digest-checked, unpacked beside the running one and checked again (<see cref="AppBundle"/>); then
/// <c>trial/</c> records it and the link it replaces, <c>current</c> is switched by rename, and this process stops
/// so the service manager starts the new one.</item>
/// <item>Trial: the boot check (<c>deploy/tinymlops-gateway-boot</c>, run before every start) counts the new one's
/// starts and switches <c>current</c> back once they pass its limit (it did not come up, or crash-loops). The new one
/// is kept only after it has been healthy (<see cref="GatewayHealth"/>) for <see cref="AppUpdateOptions.TrialSeconds"/>;
/// if it cannot get there by <see cref="AppUpdateOptions.TrialDeadlineSeconds"/> it exits non-zero, which counts as
/// a failed start.</item>
/// <item>After a rollback the previous application, started again, finds <c>rolled-back/</c>, refuses that release
/// for good and reports why.</item>
/// </list>
/// Each step goes to the trainer with the runtime's channel as board class. State: <c>{DataDirectory}/app/state.json</c>.
/// </summary>
public sealed class AppUpdateWorker(
    IOptions<GatewayOptions> options, VerifierHost verifier, INodeLink link, GatewayStore store, GatewayMetrics metrics,
    IHostApplicationLifetime lifetime, ILogger<AppUpdateWorker> log) : SupervisedWorker("app-update")
{
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private ReleaseState _state = new();

    /// <summary>This application's version: its bundle's, or the assembly's when it was not installed from one.</summary>
    public static string RunningVersion { get; } = AppBundle.Installed(AppContext.BaseDirectory)?.AppVersion ?? ReleaseWorker.GatewayVersion.ToString(3);

    /// <summary>The last step taken, for <c>/health</c>.</summary>
    public string LastStep { get; private set; } = "idle";

    /// <inheritdoc />
    protected override GatewayMetrics FaultMetrics => metrics;

    /// <inheritdoc />
    protected override ILogger FaultLog => log;

    private string Root => Path.GetFullPath(options.Value.App.InstallRoot!);

    private string Runtime => options.Value.App.Runtime is { Length: > 0 } r ? r : RuntimeInformation.RuntimeIdentifier;

    private int Channel => GatewayAppChannels.Of(Runtime);

    private string StateFile => Path.Combine(options.Value.DataDirectory, "app", "state.json");

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        GatewayOptions o = options.Value;
        if (string.IsNullOrEmpty(o.App.InstallRoot))
        {
            return;
        }

        if (new FileInfo(Path.Combine(Root, "current")).LinkTarget == null)
        {
            // Without the link there is nothing to switch: every release would be fetched and unpacked in vain.
            log.LogError("application updates are off: {Current} is not a link to the running bundle (gateway/README.md, \"Updating the application\")", Path.Combine(Root, "current"));
            return;
        }

        var releaseVerifier = new ReleaseVerifier(ReleaseWorker.ReadRootKey(o.Releases.RootKeyFile!), o.Releases.Vendor, [], ReleaseWorker.GatewayVersion);
        _state = ReleaseState.Load(StateFile);
        await TakeRollbackAsync(stoppingToken).ConfigureAwait(false);
        if (!await TrialAsync(stoppingToken).ConfigureAwait(false))
        {
            return;
        }

        TimeSpan delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await CheckOnceAsync(releaseVerifier, stoppingToken).ConfigureAwait(false))
                {
                    lifetime.StopApplication(); // the service manager starts `current`, which is now the new one
                    return;
                }

                delay = TimeSpan.FromSeconds(1);
                continue; // the long poll paced this round
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException or InvalidOperationException
                || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
            {
                log.LogWarning("application update: trainer unreachable or answered badly ({Message}); retry in {Delay:F0} s", e.Message, delay.TotalSeconds);
            }

            await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
            delay = TimeSpan.FromSeconds(Math.Min(o.Releases.MaxRetrySeconds, delay.TotalSeconds * 2));
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    /// <summary>A release the boot check rolled back: refused for good, reported, its folder removed.</summary>
    private async Task TakeRollbackAsync(CancellationToken ct)
    {
        string marker = Path.Combine(Root, "rolled-back");
        if (!File.Exists(Path.Combine(marker, "sequence")))
        {
            return;
        }

        long sequence = long.Parse(File.ReadAllText(Path.Combine(marker, "sequence")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        string attempts = ReadOr(Path.Combine(marker, "attempts"), "?");
        string failed = ReadOr(Path.Combine(marker, "target"), "");
        string why = $"the new application did not come up in {attempts} starts; the service manager is back on {RunningVersion}";
        _state.Refused[sequence] = why;
        _state.Save(StateFile);
        await StepAsync(sequence, "rolled_back", why, ct).ConfigureAwait(false);
        if (failed.Length > 0 && Path.GetFullPath(Path.Combine(Root, failed)) is { } folder && folder.StartsWith(Path.Combine(Root, "releases") + Path.DirectorySeparatorChar, StringComparison.Ordinal) && Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Directory.Delete(marker, recursive: true);
    }

    /// <summary>
    /// When this process is the application on trial: waits until it has been healthy for the trial time and keeps
    /// it (true), or stops the process with exit code 1 at the deadline (false).
    /// </summary>
    private async Task<bool> TrialAsync(CancellationToken ct)
    {
        string trial = Path.Combine(Root, "trial");
        if (!File.Exists(Path.Combine(trial, "sequence")) || ReadOr(Path.Combine(trial, "version"), "") != RunningVersion)
        {
            return true;
        }

        AppUpdateOptions o = options.Value.App;
        long sequence = long.Parse(File.ReadAllText(Path.Combine(trial, "sequence")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(o.TrialDeadlineSeconds);
        DateTime? healthySince = null;
        LastStep = "trial";
        while (DateTime.UtcNow < deadline)
        {
            bool ok = GatewayHealth.IsOk(verifier, link, store);
            healthySince = ok ? healthySince ?? DateTime.UtcNow : null;
            if (healthySince is { } since && DateTime.UtcNow - since >= TimeSpan.FromSeconds(o.TrialSeconds))
            {
                _state.InstalledSequence = sequence;
                _state.InstalledVersion = RunningVersion;
                _state.Save(StateFile);
                string previous = ReadOr(Path.Combine(trial, "previous"), "");
                Directory.Delete(trial, recursive: true);
                await StepAsync(sequence, "running", $"application {RunningVersion} healthy for {o.TrialSeconds:F0} s after {ReadOr(Path.Combine(Root, "current"), "?")}; kept (the previous one, {previous}, stays until the next update)", ct).ConfigureAwait(false);
                RemoveOldReleases(previous);
                return true;
            }

            await Task.Delay(500, ct).ConfigureAwait(false);
        }

        await StepAsync(sequence, "trial_failed", $"application {RunningVersion} was not healthy for {o.TrialSeconds:F0} s within {o.TrialDeadlineSeconds:F0} s of its start; exiting so the service manager counts it", ct).ConfigureAwait(false);
        Environment.ExitCode = 1;
        lifetime.StopApplication();
        return false;
    }

    /// <summary>Checks for a newer application release once and installs it; true when the switch is made.</summary>
    private async Task<bool> CheckOnceAsync(ReleaseVerifier releaseVerifier, CancellationToken ct)
    {
        GatewayOptions o = options.Value;
        long known = Math.Max(_state.InstalledSequence, _state.Refused.Keys.DefaultIfEmpty(0).Max());
        string wait = o.Releases.PollWaitSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var poll = CancellationTokenSource.CreateLinkedTokenSource(ct);
        poll.CancelAfter(TimeSpan.FromSeconds(o.Releases.PollWaitSeconds + 30));
        using HttpRequestMessage m = ReleaseWorker.TrainerRequest(o, HttpMethod.Get, $"api/app/latest?runtime={Runtime}&newerThan={known}&wait={wait}");
        using HttpResponseMessage response = await _http.SendAsync(m, poll.Token).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        using JsonDocument latest = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(poll.Token).ConfigureAwait(false));
        long sequence = latest.RootElement.GetProperty("sequence").GetInt64();
        if (sequence <= known)
        {
            return false;
        }

        return await InstallAsync(releaseVerifier, sequence, ct).ConfigureAwait(false);
    }

    private async Task<bool> InstallAsync(ReleaseVerifier releaseVerifier, long sequence, CancellationToken ct)
    {
        GatewayOptions o = options.Value;
        byte[] document = await ReleaseWorker.FetchDocumentAsync(_http, ReleaseWorker.TrainerRequest(o, HttpMethod.Get, $"api/app/{Runtime}/{sequence}"), ct).ConfigureAwait(false);
        string releases = Path.Combine(Root, "releases");
        string? unpacked = null;
        try
        {
            (GatewayAppManifest manifest, SigningKeyCertificate key) = releaseVerifier.VerifyApp(SignedRelease.Parse(document), _state.Trust, Runtime, DateTimeOffset.UtcNow);
            await StepAsync(sequence, "verified", $"application {manifest.AppVersion} for {manifest.Runtime}, signed by {key.KeyId} (certificate {key.Sequence})", ct).ConfigureAwait(false);
            string bundle = await ArtifactDownload.FetchAsync(_http, p => ReleaseWorker.TrainerRequest(o, HttpMethod.Get, p), manifest.Artifacts[0], Path.Combine(options.Value.DataDirectory, "app", "staging"), ct).ConfigureAwait(false);
            await StepAsync(sequence, "downloaded", $"{manifest.Artifacts[0].Name} {manifest.Artifacts[0].Size} B", ct).ConfigureAwait(false);

            // Unpacked under a temporary name and renamed: a cut leaves no folder that looks installed.
            string name = $"{manifest.AppVersion}-{sequence}";
            string target = Path.Combine(releases, name), partial = target + ".partial";
            if (Directory.Exists(partial))
            {
                Directory.Delete(partial, recursive: true);
            }

            if (Directory.Exists(target))
            {
                Directory.Delete(target, recursive: true);
            }

            AppBundleInfo info;
            await using (FileStream f = File.OpenRead(bundle))
            {
                ReleaseVerifier.CheckArtifact(manifest.Artifacts[0], f); // the staged file once more, as it is read
                f.Position = 0;
                unpacked = partial;
                info = AppBundle.Unpack(f, partial);
            }

            if (info.AppVersion != manifest.AppVersion || info.Runtime != manifest.Runtime)
            {
                throw new ReleaseException(ReleaseError.Malformed, $"the bundle calls itself {info.AppVersion} for {info.Runtime}, the manifest {manifest.AppVersion} for {manifest.Runtime}");
            }

            Directory.Move(partial, target);
            unpacked = target;
            File.Delete(bundle);
            _state.HighestKeySequence = Math.Max(_state.HighestKeySequence, key.Sequence);
            _state.Save(StateFile);
            Switch(sequence, manifest.AppVersion, Path.Combine("releases", name));
            await StepAsync(sequence, "switched", $"current -> releases/{name}; restarting into it (the service manager starts it, the boot check counts its starts)", ct).ConfigureAwait(false);
            return true;
        }
        catch (ReleaseException e)
        {
            if (unpacked != null && Directory.Exists(unpacked))
            {
                Directory.Delete(unpacked, recursive: true);
            }

            _state.Refused[sequence] = $"{e.Error}: {e.Message}";
            _state.Save(StateFile);
            await StepAsync(sequence, "refused", $"{e.Error}: {e.Message}", ct).ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>Records the trial (what <c>current</c> pointed at before), then renames a new link over <c>current</c>.</summary>
    private void Switch(long sequence, string version, string target)
    {
        string current = Path.Combine(Root, "current");
        string previous = new FileInfo(current).LinkTarget ?? throw new IOException($"{current} is not a link; the gateway must run from a `current` link to update itself");
        string trial = Path.Combine(Root, "trial"), staging = trial + ".new";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        Directory.CreateDirectory(staging);
        File.WriteAllText(Path.Combine(staging, "sequence"), sequence.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        File.WriteAllText(Path.Combine(staging, "version"), version + "\n");
        File.WriteAllText(Path.Combine(staging, "previous"), previous + "\n");
        File.WriteAllText(Path.Combine(staging, "target"), target + "\n");
        File.WriteAllText(Path.Combine(staging, "attempts"), "0\n");
        if (Directory.Exists(trial))
        {
            Directory.Delete(trial, recursive: true);
        }

        Directory.Move(staging, trial);
        string link = current + ".new";
        File.Delete(link);
        File.CreateSymbolicLink(link, target);
        ReplaceLink(link, current);
    }

    /// <summary>rename(2) of a link over another: the service sees the old link or the new one, never none.</summary>
    private static void ReplaceLink(string from, string to)
    {
        // File.Move follows a link to a folder and calls it missing; the system call renames the link itself.
        if (Rename(from, to) != 0)
        {
            throw new IOException($"cannot rename {from} over {to}: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename([MarshalAs(UnmanagedType.LPUTF8Str)] string from, [MarshalAs(UnmanagedType.LPUTF8Str)] string to);

    /// <summary>Bundles other than the current and the previous one go.</summary>
    private void RemoveOldReleases(string previous)
    {
        string releases = Path.Combine(Root, "releases");
        string? current = new FileInfo(Path.Combine(Root, "current")).LinkTarget;
        foreach (string folder in Directory.Exists(releases) ? Directory.GetDirectories(releases) : [])
        {
            string relative = Path.Combine("releases", Path.GetFileName(folder));
            if (relative != current?.TrimEnd('/') && relative != previous.TrimEnd('/'))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private async Task StepAsync(long sequence, string step, string detail, CancellationToken ct)
    {
        LastStep = step;
        await ReleaseWorker.RecordStepAsync(_http, options.Value, metrics, log, "application release", "app_" + step, new ReleaseStatusReport(Channel, sequence, step, detail), ct).ConfigureAwait(false);
    }

    private static string ReadOr(string file, string fallback)
    {
        if (new FileInfo(file).LinkTarget is { } link)
        {
            return link;
        }

        return File.Exists(file) ? File.ReadAllText(file).Trim() : fallback;
    }
}
