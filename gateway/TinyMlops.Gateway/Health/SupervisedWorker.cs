using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace TinyMlops.Gateway.Health;

/// <summary>
/// A background worker that cannot take the host down: an unexpected exception is logged, counted under
/// <c>tinymlops_gateway_worker_faults_total{worker=…}</c> and the worker is started again after a back-off (1 s
/// doubling to a minute, reset once it has run a minute without failing). Bad records are the workers' own business
/// (they quarantine them); this is the net under everything else.
/// </summary>
public abstract class SupervisedWorker(string name) : BackgroundService
{
    /// <summary>Where faults are counted.</summary>
    protected abstract GatewayMetrics FaultMetrics { get; }

    /// <summary>Where faults are logged.</summary>
    protected abstract ILogger FaultLog { get; }

    /// <summary>Runs until <paramref name="stoppingToken"/> is cancelled.</summary>
    protected abstract Task RunAsync(CancellationToken stoppingToken);

    /// <inheritdoc />
    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        TimeSpan delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            long started = Environment.TickCount64;
            try
            {
                await RunAsync(stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                FaultMetrics.CountWorkerFault(name);
                if (Environment.TickCount64 - started > 60_000)
                {
                    delay = TimeSpan.FromSeconds(1);
                }

                FaultLog.LogError(e, "{Worker} failed; restarting it in {Delay:F0} s", name, delay.TotalSeconds);
                try
                {
                    await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromSeconds(Math.Min(60, delay.TotalSeconds * 2));
            }
        }
    }
}
