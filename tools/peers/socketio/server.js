// Socket.IO comparison peer for tools/loadgen: socket.io with its library
// defaults (Engine.IO v4, WebSocket or polling, pingInterval 25 s), a room
// per garden. A client joins its garden's room ("join", with an ack) and
// emits "change" (with an ack); the server relays the change to the other
// members of the room. No game logic, no persistence.
//
//   PORT=8200 node server.js
//
// Prints "listening addr=HOST:PORT" once listening, serves GET /healthz,
// and on SIGINT/SIGTERM closes every socket and exits 0.
'use strict';

const { createServer } = require('node:http');
const { Server } = require('socket.io');

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 8200);

const http = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.end('ok\n');
    return;
  }
  res.statusCode = 404;
  res.end();
});

const io = new Server(http);

io.on('connection', (socket) => {
  socket.on('join', (garden, ack) => {
    socket.join(String(garden));
    if (typeof ack === 'function') ack();
  });
  socket.on('change', (data, ack) => {
    for (const room of socket.rooms) {
      if (room !== socket.id) socket.to(room).emit('change', data);
    }
    if (typeof ack === 'function') ack();
  });
});

http.listen(port, host, () => {
  const a = http.address();
  console.log(`listening addr=${a.address}:${a.port}`);
});

function stop() {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
