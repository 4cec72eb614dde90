// A child process for kafka.test.ts: runs the Kafka source in a consumer group and says "joined" on stdout
// once the group gave it its partitions, then consumes until it is killed (the test kills it with SIGKILL,
// so it never leaves the group). Arguments: brokers topic group.
import { kafkaSource } from '../../../broker/sources/kafka.js'
import { silentLogger } from '../../../shared/logger.js'

const [brokers = '', topic = '', group = ''] = process.argv.slice(2)
const source = kafkaSource({ brokers: brokers.split(','), topic, group, log: silentLogger, onReady: () => process.stdout.write('joined\n') })
await source.run({ cursors: new Map(), ready: () => Promise.resolve(), accept: () => Promise.resolve() }, new AbortController().signal)
