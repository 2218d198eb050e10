// The fetcher's verbs, in the order `bootos --help` lists them.
import { cacheConfig } from './cache-config.js';
import { channelSignCmd } from './channel-sign.js';
import { deviceEnroll, deviceList, deviceRevoke, deviceSign } from './device.js';
import { keyGenerate } from './key-generate.js';
import type { Command } from './kit.js';
import { imageRewrap } from './image-rewrap.js';
import { publish } from './publish.js';
import { osPublish } from './os-publish.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { rootInit, rootRotate } from './root.js';
import { serve } from './serve.js';
import { verify } from './verify.js';

export const fetcherVerbs: Command[] = [keyGenerate, rootInit, rootRotate, publish, imageRewrap, osPublish, channelSignCmd, deviceEnroll, deviceRevoke, deviceSign, deviceList, serve, verify, pullCommand, pushCommand, cacheConfig];
