// A Node service with kafkajs (from npm), for tests/e2e/kafka.test.mjs. Two roles:
//   node kafka_node.mjs producer BOOTSTRAP   GET /order/N sends 2 messages to "orders" (one
//                                            carrying the secret), answers 200 with the offset.
//   node kafka_node.mjs consumer BOOTSTRAP   GET /start joins group "billing" on "orders" from the
//                                            beginning; GET /count answers the messages received.
// Each listens first and prints "port N", and connects to Kafka only when asked, so that the
// agent follows the process (it traces listening processes) before its Kafka connections open.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'node', 'package.json'));
const { Kafka, logLevel } = require('kafkajs');

const [role, bootstrap] = process.argv.slice(2);
const SECRET = 'kafka-secret-5521';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const kafka = new Kafka({ clientId: role === 'producer' ? 'shop' : 'billing-svc', brokers: [bootstrap],
                          logLevel: logLevel.ERROR, retry: { initialRetryTime: 50, retries: 8 } });

let producer;
let received = 0;
let consumer;

async function order(n) {
  if (!producer) {
    producer = kafka.producer();
    await producer.connect();
  }
  const [r] = await producer.send({
    topic: 'orders',
    messages: [{ key: `order-${n}`, value: JSON.stringify({ n, card: SECRET }) }, { value: `audit ${n}` }],
  });
  return r.baseOffset;
}

async function start() {
  consumer = kafka.consumer({ groupId: 'billing', maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders', fromBeginning: true });
  await consumer.run({ eachMessage: async () => { received += 1; } });
}

const server = http.createServer(async (req, res) => {
  try {
    const m = /^\/order\/(\d+)$/.exec(req.url);
    if (role === 'producer' && m) {
      res.writeHead(200).end(`${await order(Number(m[1]))}\n`);
    } else if (role === 'consumer' && req.url === '/start') {
      await start();
      res.writeHead(200).end('started\n');
    } else if (role === 'consumer' && req.url === '/count') {
      res.writeHead(200).end(`${received}\n`);
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    res.writeHead(500).end(`${e.message}\n`);
  }
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
