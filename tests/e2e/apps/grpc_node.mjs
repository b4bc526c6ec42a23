// A @grpc/grpc-js server and client of hodos.test.Chain (chain.proto, loaded with
// @grpc/proto-loader) for tests/e2e/grpc.test.mjs; the same service, arguments and output as
// grpc_go/, protobuf on the wire, so each implementation calls the other.
//
//   node grpc_node.mjs [NEXT ...]
//     Serves on 127.0.0.1 and prints "port N" once listening, then "received METHOD traceparent TP"
//     for each call ("-" when it has none). NEXT (a port, or host:port) is another Chain server:
//     each call is passed on to every NEXT in turn (see chain.proto).
//   node grpc_node.mjs client ADDR [-calls N] [-concurrency C] [-codes CODE,...] [-fail CODE]
//                                  [-list N] [-list-fail CODE] [-sum N] [-id PREFIX] [-traceparent TP]
//     Calls ADDR over one channel: N Get calls, C at a time, call i asking the leaf for the i-th
//     of -codes (round robin; default 0, OK); then, with -fail, one more Get asking the
//     leaf to fail with CODE; with -list, one List asking for N replies (and to end with
//     -list-fail); with -sum, one Sum streaming N requests. Prints the outcome of every call as
//     JSON: {"calls": [{"method", "id", "code", "message", "hops", "replies", "seq"}]}.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'node', 'package.json'));
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// keepCase: the field names of the .proto (fail_code); defaults: absent fields read as 0 / [].
const definition = protoLoader.loadSync(path.join(here, 'chain.proto'), { keepCase: true, defaults: true });
const { Chain } = grpc.loadPackageDefinition(definition).hodos.test;
const CALL_TIMEOUT_MS = 30000;  // generous: the machine may be busy; tests never assert timings

// A bare port is one on 127.0.0.1.
const address = (next) => (/^\d+$/.test(next) ? `127.0.0.1:${next}` : next);
const connect = (next) => new Chain(address(next), grpc.credentials.createInsecure());

// The status the leaf was asked to fail with.
const asked = (req) => ({ code: req.fail_code, details: `${req.id} failed as asked` });
// A callee's status, passed up unchanged (a hop fails the way its next hop did).
const relay = (err) => ({ code: err.code, details: err.details });

// Resolves with the reply of a unary or client-streaming call; `start(callback)` makes the call.
function settle(start) {
  let call;
  const done = new Promise((resolve, reject) => {
    call = start((err, reply) => (err ? reject(err) : resolve(reply)));
  });
  return { call, done };
}

// Resolves once a server-streaming call has ended well, rejects with its error otherwise.
function drained(stream, onReply) {
  return new Promise((resolve, reject) => {
    stream.on('data', onReply);
    stream.on('error', reject);
    stream.on('end', resolve);
  });
}

// Prints the traceparent metadata a call came with ("-" for none): what the caller, or the agent
// on its host, sent.
function noteTraceparent(call, method) {
  console.log(`received ${method} traceparent ${call.metadata.get('traceparent').join(',') || '-'}`);
}

function serve(nexts) {
  const clients = nexts.map(connect);
  let me;
  const server = new grpc.Server();
  server.addService(Chain.service, {
    // `parent: call` passes the caller's deadline (and a cancellation) on to the next hop.
    async Get(call, callback) {
      const req = call.request;
      noteTraceparent(call, 'Get');
      if (clients.length === 0 && req.fail_code) return callback(asked(req));
      const reply = { id: req.id, hops: [me], seq: 0 };
      for (const c of clients) {
        try {
          const got = await settle((cb) => c.Get(req, { parent: call }, cb)).done;
          reply.hops.push(...got.hops);
        } catch (e) {
          return callback(relay(e));
        }
      }
      return callback(null, reply);
    },

    async List(call) {
      const req = call.request;
      noteTraceparent(call, 'List');
      if (clients.length === 0) {
        for (let seq = 0; seq < req.count; ++seq) call.write({ id: req.id, hops: [me], seq });
        // The status goes in the trailers, after the replies.
        if (req.fail_code) call.emit('error', asked(req));
        else call.end();
        return;
      }
      for (const c of clients) {
        try {
          await drained(c.List(req, { parent: call }), (got) => call.write({ ...got, hops: [me, ...got.hops] }));
        } catch (e) {
          call.emit('error', relay(e));
          return;
        }
      }
      call.end();
    },

    Sum(call, callback) {
      noteTraceparent(call, 'Sum');
      const subs = clients.map((c) => settle((cb) => c.Sum({ parent: call }, cb)));
      const reply = { id: '', hops: [me], seq: 0 };
      let last = {};
      call.on('data', (req) => {
        if (reply.seq === 0) reply.id = req.id;
        reply.seq += 1;
        last = req;
        for (const sub of subs) sub.call.write(req);
      });
      call.on('end', async () => {
        if (subs.length === 0 && last.fail_code) return callback(asked(last));
        for (const sub of subs) {
          sub.call.end();
          try {
            const got = await sub.done;
            reply.hops.push(...got.hops);
            reply.seq = got.seq;  // the leaf's count
          } catch (e) {
            return callback(relay(e));
          }
        }
        return callback(null, reply);
      });
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      console.error(`grpc_node: ${err.message}`);
      process.exit(1);
    }
    me = `node:${port}`;
    // Connect now, as grpc-go does: the connections exist before any request, shared by all;
    // and after listen(), from which the agent traces this process.
    for (const c of clients) c.getChannel().getConnectivityState(true);
    console.log(`port ${port}`);
  });
}

// --- client mode -----------------------------------------------------------------------------

function result(method, id) {
  return { method, id, code: 0, message: '', hops: [], replies: 0, seq: 0 };
}

function got(r, reply) {
  r.replies += 1;
  r.hops = reply.hops;
  r.seq = reply.seq;
}

function ended(r, err) {
  if (err) {
    r.code = err.code;
    r.message = err.details;
  }
  return r;
}

const deadline = () => ({ deadline: Date.now() + CALL_TIMEOUT_MS });

async function callGet(c, id, failCode, metadata) {
  const r = result('Get', id);
  try {
    got(r, await settle((cb) => c.Get({ id, fail_code: failCode }, metadata, deadline(), cb)).done);
    return ended(r);
  } catch (e) {
    return ended(r, e);
  }
}

async function callList(c, id, count, failCode) {
  const r = result('List', id);
  try {
    await drained(c.List({ id, count, fail_code: failCode }, deadline()), (reply) => got(r, reply));
    return ended(r);
  } catch (e) {
    return ended(r, e);
  }
}

async function callSum(c, id, count) {
  const r = result('Sum', id);
  const { call, done } = settle((cb) => c.Sum(deadline(), cb));
  for (let i = 0; i < count; ++i) call.write({ id: `${id}-${i}` });
  call.end();
  try {
    got(r, await done);
    return ended(r);
  } catch (e) {
    return ended(r, e);
  }
}

// -name VALUE pairs (one or two dashes), as Go's flag package takes them.
function flags(args, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i].replace(/^--?/, '');
    if (!(name in defaults) || i + 1 >= args.length) throw new Error(`client: bad flag ${args[i]}`);
    out[name] = typeof defaults[name] === 'number' ? Number(args[i + 1]) : args[i + 1];
  }
  return out;
}

async function client([addr, ...args]) {
  if (!addr) throw new Error('client: ADDR missing');
  const f = flags(args, { calls: 1, concurrency: 1, codes: '0', fail: 0, list: -1, 'list-fail': 0, sum: -1,
                          id: 'node', traceparent: '' });
  const codes = f.codes.split(',').map(Number);
  // -traceparent: every Get carries it, as an instrumented caller's trace context.
  const metadata = new grpc.Metadata();
  if (f.traceparent) metadata.set('traceparent', f.traceparent);
  const c = connect(addr);
  const results = new Array(f.calls);
  let next = 0;
  await Promise.all(Array.from({ length: f.concurrency }, async () => {
    while (next < f.calls) {
      const i = next++;
      results[i] = await callGet(c, `${f.id}-${i}`, codes[i % codes.length], metadata);
    }
  }));
  if (f.fail) results.push(await callGet(c, `${f.id}-fail`, f.fail, metadata));
  if (f.list >= 0) results.push(await callList(c, `${f.id}-list`, f.list, f['list-fail']));
  if (f.sum >= 0) results.push(await callSum(c, `${f.id}-sum`, f.sum));
  c.close();
  console.log(JSON.stringify({ calls: results }));
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'client') {
  client(rest).catch((e) => {
    console.error(`grpc_node: ${e.message}`);
    process.exit(1);
  });
} else {
  serve(process.argv.slice(2));
}
