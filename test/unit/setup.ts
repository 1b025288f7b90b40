// Unit tests are fast; fail a hung one in seconds rather than the e2e timeout.
import { jest } from '@jest/globals';

jest.setTimeout(15_000);
