using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;

namespace TinyMlops.Gateway.Releases;

/// <summary>
/// Follows the trainer's staged rollout of the release the gateway relays: every
/// <see cref="ReleaseOptions.RolloutSyncSeconds"/> it reports each of its nodes of the board class (the relay's state
/// for admitted ones, <c>pending</c> for the rest) and admits the nodes the trainer's answer names; while the
/// rollout is paused, aborted or absent the relay offers nothing. The rollout's state lives in the trainer's registry
/// and the per-node states beside the release here, so either side may restart.
/// </summary>
public sealed class RolloutWorker(IOptions<GatewayOptions> options, NodeUpdateRelay relay, NodeKeys keys, GatewayMetrics metrics, ILogger<RolloutWorker> log)
    : SupervisedWorker("rollouts")
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>The state of the rollout last heard of (<c>none</c> before).</summary>
    public string State { get; private set; } = "none";

    /// <inheritdoc />
    protected override GatewayMetrics FaultMetrics => metrics;

    /// <inheritdoc />
    protected override ILogger FaultLog => log;

    /// <summary>Reports once and applies the answer.</summary>
    public async Task SyncOnceAsync(CancellationToken ct)
    {
        GatewayOptions o = options.Value;
        long sequence = relay.Sequence;
        if (sequence == 0)
        {
            return;
        }

        var inRelay = relay.Snapshot().ToDictionary(n => n.Node, StringComparer.Ordinal);
        RolloutNodeReport[] nodes = keys.All.Where(k => k.Value.BoardClass == o.Releases.BoardClass).OrderBy(k => k.Key, StringComparer.Ordinal)
            .Select(k => inRelay.TryGetValue(k.Key, out NodeUpdateStatus? s) ? new RolloutNodeReport(k.Key, s.State, s.Attempts, s.LastError) : new RolloutNodeReport(k.Key, "pending", 0, null))
            .ToArray();
        using HttpRequestMessage m = ReleaseWorker.TrainerRequest(o, HttpMethod.Post, "api/rollouts/report");
        m.Content = JsonContent.Create(new RolloutReport(o.Releases.BoardClass, sequence, nodes));
        using HttpResponseMessage response = await _http.SendAsync(m, ct).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        RolloutAdmission answer = await response.Content.ReadFromJsonAsync<RolloutAdmission>(ct).ConfigureAwait(false)
            ?? throw new JsonException("empty rollout answer");
        if (answer.State != State)
        {
            log.LogInformation("release {Sequence}: rollout {Rollout} is {State}", sequence, answer.RolloutId, answer.State);
            State = answer.State;
        }

        var ours = new HashSet<string>(nodes.Select(n => n.Node), StringComparer.Ordinal);
        relay.Admit(answer.Admitted.Where(ours.Contains)); // only nodes this gateway reported: the answer is the trainer's word, not a list to trust blindly
        relay.Halted = answer.State is not ("running" or "completed");
    }

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        GatewayOptions o = options.Value;
        if (string.IsNullOrEmpty(o.Releases.RootKeyFile) || string.IsNullOrEmpty(o.Releases.NodeKeysFile))
        {
            return; // no releases, or no nodes to relay them to
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(o.Releases.RolloutSyncSeconds));
        do
        {
            try
            {
                await SyncOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or NotSupportedException || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
            {
                metrics.CountReleaseStep("rollout_unreachable");
                log.LogWarning("rollout report not delivered ({Message}); the relay keeps its admitted nodes and retries", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}
