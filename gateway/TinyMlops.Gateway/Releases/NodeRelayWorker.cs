using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Intake;

namespace TinyMlops.Gateway.Releases;

/// <summary>Drives the <see cref="NodeUpdateRelay"/>: hands it each node's update status and ticks its offers and timeouts.</summary>
public sealed class NodeRelayWorker(EventIntake intake, NodeUpdateRelay relay, GatewayMetrics metrics, ILogger<NodeRelayWorker> log) : SupervisedWorker("node-updates")
{
    private static readonly TimeSpan TickPeriod = TimeSpan.FromMilliseconds(250);

    /// <inheritdoc />
    protected override GatewayMetrics FaultMetrics => metrics;

    /// <inheritdoc />
    protected override ILogger FaultLog => log;

    /// <inheritdoc />
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        // Statuses and ticks run side by side; if either fails, both stop and the supervisor restarts them together.
        using var both = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        Task ticks = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TickPeriod);
            while (await timer.WaitForNextTickAsync(both.Token).ConfigureAwait(false))
            {
                await relay.TickAsync(both.Token).ConfigureAwait(false);
            }
        }, both.Token);
        Task statuses = Task.Run(async () =>
        {
            await foreach ((string node, Firmware.Core.Wire.OtaStatusMessage status) in intake.OtaStatuses.ReadAllAsync(both.Token).ConfigureAwait(false))
            {
                await relay.OnStatusAsync(node, status, both.Token).ConfigureAwait(false);
            }
        }, both.Token);
        Task first = await Task.WhenAny(ticks, statuses).ConfigureAwait(false);
        await both.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(ticks, statuses).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!first.IsFaulted)
        {
        }

        await first.ConfigureAwait(false);
    }
}
