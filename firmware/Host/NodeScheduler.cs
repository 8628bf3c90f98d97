using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace TinyMlops.Firmware.Host;

/// <summary>
/// The threads that drive <see cref="NodeRunner"/>s: one sampling thread that paces every runner's samples on the
/// clock and never waits for evaluation, and a few workers that make every other controller call (windows,
/// downlink messages, acknowledgements, telemetry, reconnects), each runner on at most one worker at a time, as the
/// device's single worker thread does. A runner started alone gets a scheduler of its own (one worker); a fleet of
/// simulated nodes shares one, so a thousand nodes cost a few threads, not two thousand.
/// Thread-safe: runners join and leave while it runs. Dispose after the runners it drives.
/// </summary>
public sealed class NodeScheduler : IDisposable
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200); // reconnects, telemetry, resends fall due

    private readonly object _gate = new();
    // Guarded by its own monitor. Not a BlockingCollection: its semaphore spins before it sleeps, and with a thousand
    // runners the workers fall idle thousands of times a second, so the spinning took more CPU than the nodes did.
    private readonly Queue<NodeRunner> _ready = new();
    private bool _stopping;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _sampler;
    private readonly Thread[] _workers;
    private readonly Timer _tick;
    private NodeRunner[] _runners = []; // replaced, never changed, so the sampling thread reads it without a lock

    /// <summary>A scheduler with <paramref name="workers"/> worker threads, named after <paramref name="name"/>.</summary>
    public NodeScheduler(int workers, string name)
    {
        if (workers < 1 || workers > 64)
        {
            throw new ArgumentException($"workers {workers} is outside 1..64");
        }

        _sampler = new Thread(SampleLoop) { IsBackground = true, Priority = ThreadPriority.Highest, Name = $"{name} sampling" };
        _workers = new Thread[workers];
        for (int i = 0; i < workers; i++)
        {
            _workers[i] = new Thread(WorkLoop) { IsBackground = true, Name = $"{name} worker {i + 1}" };
        }

        _sampler.Start();
        foreach (Thread w in _workers)
        {
            w.Start();
        }

        _tick = new Timer(_ => ScheduleAll(), null, Tick, Tick);
    }

    /// <summary>Runners being driven.</summary>
    public int Count => Volatile.Read(ref _runners).Length;

    /// <summary>Stops the threads (runners still attached stop being driven).</summary>
    public void Dispose()
    {
        _tick.Dispose();
        _stop.Cancel();
        lock (_ready)
        {
            _stopping = true;
            Monitor.PulseAll(_ready);
        }

        _sampler.Join(TimeSpan.FromSeconds(5));
        foreach (Thread w in _workers)
        {
            w.Join(TimeSpan.FromSeconds(10));
        }

        _stop.Dispose();
    }

    internal void Add(NodeRunner runner)
    {
        lock (_gate)
        {
            var next = new NodeRunner[_runners.Length + 1];
            _runners.CopyTo(next, 0);
            next[^1] = runner;
            Volatile.Write(ref _runners, next);
        }

        Schedule(runner);
    }

    internal void Remove(NodeRunner runner)
    {
        lock (_gate)
        {
            Volatile.Write(ref _runners, Array.FindAll(_runners, r => r != runner));
        }
    }

    /// <summary>Asks for a worker to run <paramref name="runner"/>'s work: queued once, or run again by the worker on it.</summary>
    internal void Schedule(NodeRunner runner)
    {
        while (true)
        {
            int state = Volatile.Read(ref runner.WorkState);
            if (state is NodeRunner.Queued or NodeRunner.RunningAgain)
            {
                return;
            }

            int next = state == NodeRunner.Idle ? NodeRunner.Queued : NodeRunner.RunningAgain;
            if (Interlocked.CompareExchange(ref runner.WorkState, next, state) == state)
            {
                if (state == NodeRunner.Idle)
                {
                    lock (_ready)
                    {
                        if (!_stopping)
                        {
                            _ready.Enqueue(runner);
                            Monitor.Pulse(_ready);
                        }
                    }
                }

                return;
            }
        }
    }

    private void ScheduleAll()
    {
        foreach (NodeRunner r in Volatile.Read(ref _runners))
        {
            Schedule(r);
        }
    }

    private void SampleLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            long now = Stopwatch.GetTimestamp();
            foreach (NodeRunner r in Volatile.Read(ref _runners))
            {
                r.SampleDue(now);
            }

            // A sweep takes every sample due so far, so sweeping again at once (as this did while any were due) only
            // spent a core on a thousand runners with one or two samples each.
            Thread.Sleep(1);
        }
    }

    private void WorkLoop()
    {
        while (true)
        {
            NodeRunner r;
            lock (_ready)
            {
                while (_ready.Count == 0 && !_stopping)
                {
                    Monitor.Wait(_ready);
                }

                if (_stopping)
                {
                    return;
                }

                r = _ready.Dequeue();
            }

            Volatile.Write(ref r.WorkState, NodeRunner.Running);
            do
            {
                r.Work();
            }
            while (Interlocked.CompareExchange(ref r.WorkState, NodeRunner.Idle, NodeRunner.Running) != NodeRunner.Running
                && Interlocked.Exchange(ref r.WorkState, NodeRunner.Running) == NodeRunner.RunningAgain);
        }
    }
}
