#!/usr/bin/env node
// The kubectl-podgroup executable (package bin): kubectl runs it for `kubectl podgroup …`.
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2));
